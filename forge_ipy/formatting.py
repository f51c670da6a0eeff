"""The one place that turns models and provider states into short text.

Every frontend (tables, the picker, the terminal chooser, the CLI) uses these, so a model
reads the same everywhere: `gpt-4o  128k  tools`.
"""

from __future__ import annotations

from .domain import Model, ProviderStatus


def format_tokens(count: int | None) -> str:
    """128000 -> '128k', 1048576 -> '1M'; '' when unknown."""
    if not count:
        return ""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g}M"
    if count >= 1000:
        return f"{count / 1000:.4g}k"
    return str(count)


def format_tools(tools: bool | None) -> str:
    return {True: "tools", False: "no tools", None: ""}[tools]


def format_price(model: Model) -> str:
    """'$2.5 / $10' per million tokens in / out; '' when unknown."""
    if model.input_price is None and model.output_price is None:
        return ""
    def one(price: float | None) -> str:
        return "?" if price is None else f"${price:.4g}"
    return f"{one(model.input_price)} / {one(model.output_price)}"


def format_model_line(model: Model) -> str:
    """`gpt-4o  128k  tools`: id, context window, tools mark (unknown parts left out)."""
    parts = [model.id, format_tokens(model.context_length), format_tools(model.tools)]
    return "  ".join(part for part in parts if part)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def format_status(status: ProviderStatus, now: float) -> str:
    """`fresh`, `cached 5 min ago`, `failed: HTTP 401 …`, `stale (12 min old): timeout …`."""
    age = format_age(status.age_seconds(now))
    if status.error and status.model_count:
        return f"stale, cached {age}; refresh failed: {status.error}"
    if status.error:
        return f"failed: {status.error}"
    if status.stale:
        return f"cached {age}, refreshing"
    if status.from_cache:
        return f"cached {age}"
    return "fresh"
