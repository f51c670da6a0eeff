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
    format_status,
    format_table,
    listing_line,
    model_row,
    models_summary,
    new_models,
    state_parts,
)

_e = html.escape

# Scoped to the table's own container; Jupyter's theme variables with fallbacks, so dark
# themes read. `tex2jax_ignore`/`mathjax_ignore` keep MathJax (JupyterLab, Notebook 7) from
# typesetting `$0.12 / $0.30` as math, and from scanning the table at all (slow).
_STYLE = """<style>
.forge-models{font-family:var(--jp-ui-font-family,system-ui,sans-serif);
color:var(--jp-ui-font-color1,inherit)}
.forge-models table{table-layout:fixed;border-collapse:collapse;margin:0;width:auto;
font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px)}
.forge-models .chunk{content-visibility:auto}
.forge-models th,.forge-models td{padding:1px 0 1px 2ch;text-align:right;border:0;
white-space:nowrap;overflow:hidden;text-overflow:ellipsis;background:none}
.forge-models td:first-child,.forge-models th:first-child{text-align:left;padding-left:0}
.forge-models thead th{color:var(--jp-ui-font-color2,inherit);font-weight:600;
font-family:var(--jp-ui-font-family,sans-serif)}
.forge-models .group th{text-align:left;padding:6px 0 1px;font-weight:600;
font-family:var(--jp-ui-font-family,sans-serif);color:var(--jp-ui-font-color1,inherit);
border-bottom:1px solid var(--jp-border-color2,#ccc)}
.forge-models .new td:first-child::after{content:" new";
font-family:var(--jp-ui-font-family,sans-serif);color:var(--jp-success-color1,#2e7d32)}
.forge-models .states{margin:6px 0 0;color:var(--jp-ui-font-color2,inherit)}
.forge-models .failed{color:var(--jp-error-color1,#c62828)}
</style>"""
# Rows per table: a browser styles and lays out only the tables in view
# (`content-visibility: auto`), so 2,000 models show as fast as a few dozen.
_CHUNK = 50


_NEW = ' class="new"'
_NUMBERS = ("context", "price in / out per 1M")  # right-aligned; words are left-aligned


def _alignment(header: list[str], scope: str) -> str:
    """Ids and words left, numbers right: which columns those are depends on `--all`."""
    words = ",".join(f"{scope} td:nth-child({i}),{scope} th:nth-child({i})"
                     for i, name in enumerate(header, 1) if name not in _NUMBERS)
    return f"{words}{{text-align:left}}"


_STYLE = _STYLE.replace("</style>", _alignment(MODEL_COLUMNS[1:], ".forge-models:not(.kinds)")
                        + _alignment(MODEL_COLUMNS_ALL[1:], ".forge-models.kinds")
                        + "</style>")


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

    def summary(self) -> str:
        """`12 models from 3 providers`: the providers whose models are shown."""
        return models_summary(self.listing)

    def text(self) -> str:
        """The whole table as text, with the summary and the providers' state line."""
        columns = MODEL_COLUMNS_ALL if self.all_kinds else MODEL_COLUMNS
        table = format_table(columns, [model_row(m, self.all_kinds) for m in self.listing.models])
        return f"{table}\n\n{listing_line(self.listing, self._now)}"

    def __repr__(self) -> str:
        return f"<ModelTable: {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_mimebundle_(self, include: Any = None,
                          exclude: Any = None) -> dict[str, str] | None:
        """Where HTML is shown (a kernel), HTML with a short text/plain beside it: a notebook
        saved with 2,000 models keeps one table, not two. A terminal gets `_repr_pretty_`."""
        if not _html_enabled():
            return None
        return {"text/html": self._repr_html_(),
                "text/plain": listing_line(self.listing, self._now)}

    def _repr_html_(self) -> str:
        names = {p.id: p.name for p in self.listing.providers}
        new = self.listing.new
        groups = self.listing.by_provider()
        # The text table's cells but the provider's, which the group rows say.
        rows = {pid: [(*model_row(m, self.all_kinds)[1:], m.full_name in new) for m in models]
                for pid, models in groups.items()}
        header = (MODEL_COLUMNS_ALL if self.all_kinds else MODEL_COLUMNS)[1:]
        count = len(header)
        # Fixed column widths (in characters of the monospace font), the same for every
        # table, so the columns line up across them; the layout needs no pass over the rows.
        widths = [max([len(header[i]), *(len(r[i]) for rs in rows.values() for r in rs)])
                  for i in range(count)]
        widths[0] = min(widths[0] + 4, 60)  # room for the " new" mark; very long ids clip
        cols = "<colgroup>" + "".join(
            f'<col style="width:{w + (0 if i == 0 else 2)}ch">' for i, w in enumerate(widths)
        ) + "</colgroup>"
        kinds = " kinds" if self.all_kinds else ""
        parts = [_STYLE, f'<div class="forge-models{kinds} tex2jax_ignore mathjax_ignore">',
                 f"<table>{cols}<thead><tr>{''.join(f'<th>{h}</th>' for h in header)}"
                 "</tr></thead></table>"]
        for provider_id, group_rows in rows.items():
            label = f"{names.get(provider_id, provider_id)} ({len(group_rows)})"
            for start in range(0, len(group_rows), _CHUNK):
                chunk = group_rows[start:start + _CHUNK]
                title = (f'<tr class="group"><th colspan="{count}">{_e(label)}</th></tr>'
                         if start == 0 else "")
                size = f"{len(chunk) * 1.4 + (2 if title else 0):.1f}em"
                parts.append(f'<div class="chunk" style="contain-intrinsic-size:auto {size}">'
                             f"<table>{cols}<tbody>{title}")
                # End tags of rows and cells are optional in HTML: a third of the bytes.
                parts.extend(
                    f"<tr{_NEW if row[-1] else ''}>" + "".join(f"<td>{_e(c)}" for c in row[:-1])
                    for row in chunk)
                parts.append("</tbody></table></div>")
        states = [f'<span class="failed">{_e(text)}</span>' if failed else _e(text)
                  for text, failed in state_parts(self.listing.providers, self._now)]
        head = [self.summary(), *([added] if (added := new_models(self.listing)) else [])]
        line = " · ".join([*map(_e, head), *states])
        parts.append(f'<p class="states">{line}</p></div>')
        return "".join(parts)


def _html_enabled() -> bool:
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and shell.display_formatter.formatters["text/html"].enabled


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
