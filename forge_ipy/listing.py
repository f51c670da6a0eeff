"""Building listings: the models and provider states a frontend shows.

A listing is made from what the cache holds for each logged-in provider and from the
providers that failed, with each provider's models taken through `facts.enrich` (what the
provider left unsaid filled from the catalog of model facts). Runs on the caller's thread (or
the loop, for progress reports); does no I/O. Nothing here decides when to fetch
(catalog.py) or knows how a listing is drawn (formatting.py and the frontends).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import facts
from .cache import CacheEntry
from .domain import Model, ModelListing, ProviderStatus, sort_models
from .errors import ProviderError
from .providers.registry import ProviderAccess


@dataclass(frozen=True)
class Failure:
    """A provider's last failed fetch, with the credential it was made with."""

    fingerprint: str
    at: float
    error: ProviderError


def added_models(previous: CacheEntry | None, models: Sequence[Model]) -> frozenset[str]:
    """Full names in `models` that the provider's previous list lacked; none on a first
    list (everything would be "new")."""
    if previous is None or not previous.models:
        return frozenset()
    before = {m.id for m in previous.models}
    return frozenset(m.full_name for m in models if m.id not in before)


def is_absent(access: ProviderAccess, entry: CacheEntry | None) -> bool:
    """An empty list from a keyless local server found at its default root: not running."""
    return (entry is not None and not entry.models and access.spec.keyless
            and not access.root_explicit)


def provider_status(access: ProviderAccess, entry: CacheEntry | None, failure: Failure | None,
                    *, stale: bool, fresh: bool) -> ProviderStatus | None:
    """How `access` fared, or None when there is nothing to say (not fetched, not running)."""
    error = failure.error if failure else None
    if entry is None and error is None:
        return None  # not fetched yet
    if error is None and is_absent(access, entry):
        return None  # a local server that is not running: not an error, nothing to show
    return ProviderStatus(
        id=access.id, name=access.name, ok=error is None,
        model_count=len(entry.models) if entry else 0,
        from_cache=entry is not None and not fresh, stale=stale or error is not None,
        fetched_at=entry.fetched_at if entry else None,
        error_kind=error.kind if error else None,  # type: ignore[arg-type]
        error=str(error) if error else None,
    )


class ListingBuilder:
    """Builds listings, memoising each entry's enriched models and the last whole view.

    A warm call with nothing changed returns the same `ModelListing` object: a lookup, not a
    copy. Entries and failures are compared by identity and held, so a freed one's id()
    reused by a newer one can never bring back an old view.
    """

    def __init__(self) -> None:
        self._view: tuple[tuple, tuple, ModelListing] | None = None
        self._enriched: dict[str, tuple[CacheEntry, int, tuple[Model, ...]]] = {}

    def forget(self) -> None:
        self._view = None
        self._enriched.clear()

    def memo(self, accesses: Sequence[ProviderAccess], entries: Mapping[str, CacheEntry],
             failures: Mapping[str, Failure], stale: frozenset[str],
             new: Mapping[str, frozenset[str]] | None = None) -> ModelListing:
        """The same listing object as last time when nothing changed (`new` changes only
        with an entry, so the entries' identity covers it)."""
        key = (facts.generation(), *((a.id, a.id in stale) for a in accesses))
        refs = tuple(x for a in accesses for x in (entries.get(a.id), failures.get(a.id)))
        view = self._view
        if view is not None and view[0] == key and all(map(operator.is_, view[1], refs)):
            return view[2]
        listing = self.build(accesses, entries, failures, stale, frozenset(), new=new)
        self._view = (key, refs, listing)
        return listing

    def build(self, accesses: Sequence[ProviderAccess], entries: Mapping[str, CacheEntry],
              failures: Mapping[str, Failure], stale: frozenset[str], fresh: frozenset[str],
              exclude: frozenset[str] = frozenset(),
              new: Mapping[str, frozenset[str]] | None = None) -> ModelListing:
        """`new` holds, per provider, the full names its last refresh added."""
        statuses: list[ProviderStatus] = []
        models: list[Model] = []
        added: set[str] = set()
        for access in accesses:
            if access.id in exclude:
                continue
            entry = entries.get(access.id)
            status = provider_status(access, entry, failures.get(access.id),
                                     stale=access.id in stale, fresh=access.id in fresh)
            if status is not None:
                statuses.append(status)
                models.extend(self.models(access, entry) if entry else ())
                added.update((new or {}).get(access.id, ()))
        return ModelListing(sort_models(models), tuple(statuses), frozenset(added))

    def models(self, access: ProviderAccess, entry: CacheEntry) -> tuple[Model, ...]:
        """`entry`'s models with their facts, enriched once per entry."""
        generation = facts.generation()
        memo = self._enriched.get(access.id)
        if memo is not None and memo[0] is entry and memo[1] == generation:
            return memo[2]
        enriched = facts.enrich(entry.models, access.spec)
        self._enriched[access.id] = (entry, generation, enriched)
        return enriched
