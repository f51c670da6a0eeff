"""A finished (or interrupted) answer: its text, the model, tokens, cost and time.

Data and its two renderings (a footer line, Markdown for a notebook). No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..text import escape_markdown, printable, safe_markdown


@dataclass(frozen=True)
class Usage:
    """Tokens the provider counted; None where it did not say."""

    input_tokens: int | None = None
    output_tokens: int | None = None


def cost_of(usage: Usage, input_price: float | None, output_price: float | None) -> float | None:
    """USD for `usage` at prices in USD per million tokens; None unless all four are known."""
    if None in (usage.input_tokens, usage.output_tokens, input_price, output_price):
        return None
    return (usage.input_tokens * input_price  # type: ignore[operator]
            + usage.output_tokens * output_price) / 1_000_000  # type: ignore[operator]


def format_cost(cost: float) -> str:
    """Dollars with the digits that matter: $0.0012, $1.2300, $0.000041."""
    return f"${cost:.4f}" if cost >= 0.001 or cost == 0 else f"${cost:.6f}"


@dataclass(frozen=True)
class Reply:
    """What a model answered. `.model` is the full `provider/model` name; `.cost` is in USD
    (None where the prices are unknown); `.seconds` from sending to the last byte."""

    text: str
    model: str
    usage: Usage
    cost: float | None
    seconds: float
    interrupted: bool = False

    def footer(self) -> str:
        """`provider/model · N in · M out · $0.0012 · 1.4 s` (no cost when unknown)."""
        parts = [printable(self.model, 120), f"{_count(self.usage.input_tokens)} in",
                 f"{_count(self.usage.output_tokens)} out"]
        if self.cost is not None:
            parts.append(format_cost(self.cost))
        parts.append(f"{self.seconds:.1f} s")
        if self.interrupted:
            parts.append("interrupted")
        return " · ".join(parts)

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return f"{safe_markdown(self.text)}\n\n---\n{escape_markdown(self.footer())}"


def _count(tokens: int | None) -> str:
    return "?" if tokens is None else f"{tokens:,}"
