"""The groups a model list is drawn in, decided once for every front end that draws one.

The terminal chooser (ipython/chooser.py), the notebook picker (ipython/widget.py) and the
picker's plain-text fallback ask `model_groups` for the groups, their order and their labels,
and `model_cells` for a model's columns; they only draw. Data in, data out: no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from .domain import Model, ModelListing
from .formatting import CELL_CHARS, format_price, format_status, format_tokens
from .text import printable

FAVOURITES = "Favourites"
RECENTS = "Recent"
SEPARATOR = " — "  # between a provider's name and why its list is not fresh


@dataclass(frozen=True, slots=True)
class Group:
    """One group of the list: Favourites, Recent, or one provider's models."""

    id: str      # "favourites", "recents", or the provider id
    kind: str    # "favourites", "recents" or "provider"
    label: str   # "Favourites", "Recent", or the provider's name
    reason: str  # why a provider's list is not fresh ("failed: …"); "" when it is
    failed: bool
    models: tuple[Model, ...]

    @property
    def header(self) -> str:
        return f"{self.label}{SEPARATOR}{self.reason}" if self.reason else self.label

    @property
    def shortcut(self) -> bool:
        """Favourites and Recent mix providers: their rows name the provider."""
        return self.kind != "provider"


def model_groups(listing: ModelListing, favourites: Sequence[str] = (),
                 recents: Sequence[str] = (), now: float | None = None) -> list[Group]:
    """Favourites, then Recent (less the favourites), then each provider in model order
    (by provider id), a failed provider with nothing cached included with no models."""
    now = time.time() if now is None else now
    by_name = {m.full_name: m for m in listing.models}
    groups = []
    fav = [n for n in dict.fromkeys(favourites) if n in by_name]
    recent = [n for n in dict.fromkeys(recents) if n in by_name and n not in fav]
    if fav:
        groups.append(Group("favourites", "favourites", FAVOURITES, "", False,
                            tuple(by_name[n] for n in fav)))
    if recent:
        groups.append(Group("recents", "recents", RECENTS, "", False,
                            tuple(by_name[n] for n in recent)))
    models = listing.by_provider()
    statuses = {s.id: s for s in listing.providers}
    for pid in sorted({*models, *statuses}):
        status = statuses.get(pid)
        if status is None:
            groups.append(Group(pid, "provider", pid, "", False, tuple(models[pid])))
            continue
        reason = format_status(status, now) if status.error or status.stale else ""
        groups.append(Group(pid, "provider", printable(status.name or pid, CELL_CHARS), reason,
                            bool(status.error), tuple(models.get(pid, ()))))
    return groups


def model_cells(model: Model, shortcut: bool = False) -> tuple[str, str, str, str, str]:
    """A model's columns: id (`provider/id` in a shortcut group; printable, cut to
    CELL_CHARS), context, tools mark, reasoning mark, price."""
    name = printable(model.full_name if shortcut else model.id, CELL_CHARS)
    return (name, format_tokens(model.context_length),
            "tools" if model.tools else "", "reasoning" if model.reasoning else "",
            format_price(model))


def groups_text(groups: Sequence[Group], new: frozenset[str] = frozenset(),
                most: int = 200) -> str:
    """The groups as aligned plain text (at most `most` model rows), for front ends that
    cannot draw the picker."""
    rows: list[tuple[str, ...] | str] = []
    shown = 0
    for group in groups:
        rows.append(group.header)
        for model in group.models[:max(0, most - shown)]:
            name, *cells = model_cells(model, group.shortcut)
            rows.append((f"  {name}", *cells, "new" if model.full_name in new else ""))
            shown += 1
    widths = [max((len(r[i]) for r in rows if isinstance(r, tuple)), default=0)
              for i in range(6)]
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
            continue
        cells = [cell.rjust(width) if i in (1, 4) else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    total = sum(len(g.models) for g in groups)
    if total > shown:
        lines.append(f"… and {total - shown} more")
    return "\n".join(lines)
