"""The catalog of model facts: what each model is, where its provider does not say.

Skeleton: `enrich` is the one seam through which listings take facts (DESIGN.md "Model
facts"); the catalog itself (bundled snapshot, live models.dev catalog, id rules) fills it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .domain import Model
from .providers.registry import ProviderSpec


def enrich(models: Sequence[Model], spec: ProviderSpec) -> tuple[Model, ...]:
    """`models` of the provider `spec` with every field the provider left empty filled from
    the next source (gateway, catalog), `kind` decided, and `facts_from` saying who filled what.
    Pure: the same input gives the same output, so listings can memoise it."""
    return tuple(models)


def generation() -> int:
    """Changes whenever the facts in force change (a live catalog arrived), so memoised
    listings are rebuilt with them."""
    return 0
