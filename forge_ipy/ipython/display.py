"""What the magics show: model and provider tables (HTML in notebooks, text in terminals),
and a progress line while providers are being fetched.

Display only: the data comes from the catalog. Every value put into HTML is escaped.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from typing import Any

from ..domain import Model, ModelListing
from ..formatting import (
    MODEL_COLUMNS,
    MODEL_COLUMNS_ALL,
    format_kind,
    format_price,
    format_reasoning,
    format_status,
    format_table,
    format_tokens,
    format_tools,
    model_row,
)

_e = html.escape


class ModelTable:
    """The value of `%forge_models`: shows as a table, iterates and filters as models.

    `all_kinds`: the listing holds every kind of model, and the table says which."""

    def __init__(self, listing: ModelListing, now: float | None = None, *,
                 all_kinds: bool = False) -> None:
        self.listing = listing
        self.all_kinds = all_kinds
        self._now = time.time() if now is None else now

    @property
    def models(self) -> tuple[Model, ...]:
        return self.listing.models

    def __iter__(self) -> Iterator[Model]:
        return iter(self.listing.models)

    def __len__(self) -> int:
        return len(self.listing.models)

    def __getitem__(self, index: int) -> Model:
        return self.listing.models[index]

    def filter(self, text: str | None = None, **kwargs: Any) -> ModelTable:
        """Narrow by text (provider/model or name), `tools=True`, `providers=[...]`."""
        kwargs.setdefault("all_kinds", self.all_kinds)
        return ModelTable(self.listing.filter(text, **kwargs), self._now,
                          all_kinds=kwargs["all_kinds"])

    def states(self) -> list[str]:
        return [f"{p.name}: {format_status(p, self._now)}" for p in self.listing.providers]

    def text(self) -> str:
        columns = MODEL_COLUMNS_ALL if self.all_kinds else MODEL_COLUMNS
        table = format_table(columns, [model_row(m, self.all_kinds) for m in self.listing.models])
        footer = "\n".join(self.states()) or "No provider answered."
        return f"{table}\n\n{len(self)} models\n{footer}"

    def __repr__(self) -> str:
        return f"<ModelTable: {len(self)} models from {len(self.listing.providers)} providers>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        names = {p.id: p.name for p in self.listing.providers}
        kind = "<th>kind</th>" if self.all_kinds else ""
        parts = [f'<table class="forge-models"><thead><tr><th>model</th>{kind}<th>context</th>'
                 '<th>tools</th><th>reasoning</th><th>price in / out per 1M</th></tr></thead>']
        for provider_id, models in self.listing.by_provider().items():
            label = f"{names.get(provider_id, provider_id)} ({len(models)})"
            parts.append(f'<tbody><tr><th colspan="{5 + self.all_kinds}" '
                         f'style="text-align:left">{_e(label)}</th></tr>')
            parts.extend(
                f"<tr><td><code>{_e(m.id)}</code></td>"
                + (f"<td>{_e(format_kind(m))}</td>" if self.all_kinds else "")
                + f"<td>{_e(format_tokens(m.context_length))}</td>"
                f"<td>{_e(format_tools(m.tools))}</td><td>{_e(format_reasoning(m.reasoning))}"
                f"</td><td>{_e(format_price(m))}</td></tr>"
                for m in models)
            parts.append("</tbody>")
        parts.append("</table>")
        states = "".join(f"<li>{_e(s)}</li>" for s in self.states())
        parts.append(f"<p>{len(self)} models</p><ul class=\"forge-providers\">{states}</ul>")
        return "".join(parts)


class TextBlock:
    """Plain text that shows as preformatted, escaped HTML in notebooks."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        return f"<pre>{_e(self.text)}</pre>"


def progress_text(listing: ModelListing, waiting: tuple[str, ...]) -> str:
    done = ", ".join(f"{p.id} ({'failed' if not p.ok else p.model_count})"
                     for p in listing.providers)
    return f"Fetching models… done: {done or 'none yet'}; waiting: {', '.join(waiting)}"
