"""The service every frontend calls: the model list, refresh, select, current, stats.

This module is the cache policy: it decides, per provider, whether to serve the cache, serve
it stale and refresh behind it, or fetch and wait, following the settings (DESIGN.md
"Settings"). Fetches run on the package's event loop through the aggregator; results land in
the cache. Listings are built by listing.py, and the selection verbs live in selection.py;
`Catalog` offers them all, so frontends (magics, widget, CLI) call only this module and
display helpers.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import cache_rules, facts, selection
from .cache import FILE_NAME, CacheEntry, ModelCache
from .domain import Model, ModelListing, sort_models
from .errors import SettingError
from .listing import Failure, ListingBuilder, added_models, is_absent
from .loop import BackgroundLoop, background_loop
from .providers.registry import ProviderAccess, all_specs, logged_in
from .selection import CurrentModel, SelectionChange
from .settings import Settings, cache_dir, resolve_settings
from .state import load_state, toggle_favourite

if TYPE_CHECKING:  # imported when the first fetch is made: serving the cache needs no HTTP
    import concurrent.futures

    from .aggregator import Aggregator, FetchResult

log = logging.getLogger("forge_ipy")
# A provider that just failed (or a local server that is not running) is not asked again
# for this long unless a refresh is forced, so one dead gateway does not slow every call.
RETRY_AFTER_SECONDS = 60.0
# A local server found not running (Ollama at its default root) is probed again, in the
# background, this long after; `--refresh` asks at once.
ABSENT_RECHECK_SECONDS = 600.0

OnUpdate = Callable[[ModelListing, tuple[str, ...]], None]


@dataclass(frozen=True)
class _Plan:
    """What to do for each provider now: serve from cache, or fetch (now or behind)."""

    accesses: tuple[ProviderAccess, ...]
    entries: dict[str, CacheEntry]
    stale: frozenset[str]
    fetch_now: tuple[ProviderAccess, ...]
    fetch_behind: tuple[ProviderAccess, ...]


class Catalog:
    def __init__(self, *, cache: ModelCache | None = None, loop: BackgroundLoop | None = None,
                 clock: Callable[[], float] = time.time,
                 max_body_bytes: int | None = None) -> None:
        self.cache = cache or ModelCache(clock=clock)
        self.cache.file.listed = _listed_names
        self.clock = clock
        self._loop = loop or background_loop()
        self._max_body_bytes = max_body_bytes
        self._aggregator_instance: Aggregator | None = None
        self._failures: dict[str, Failure] = {}
        # The result each provider's store last came from: held, not its id(), since a freed
        # result's id is reused and would make the next fetch look already recorded.
        self._recorded: dict[str, FetchResult] = {}
        self._listings = ListingBuilder()
        # Per provider, the full names its last refresh brought that its list before lacked.
        self._new: dict[str, frozenset[str]] = {}
        self._pending: set[concurrent.futures.Future] = set()
        self._lock = threading.RLock()

    # -- the list -----------------------------------------------------------------------
    def get_all_models(
        self, providers: Sequence[str] | None = None, *, refresh: bool = False,
        on_update: OnUpdate | None = None, settings: Mapping[str, object] | None = None,
    ) -> ModelListing:
        """Every model of every logged-in provider (or of `providers`), sorted.

        Serves the cache where the strategy allows; otherwise fetches all providers at once and
        waits. `on_update(listing_so_far, waiting_ids)` is called as each provider finishes.
        """
        resolved = resolve_settings(settings)
        plan = self._plan(providers, resolved, refresh)
        if plan.fetch_behind:
            self._fetch_behind(plan.fetch_behind, resolved)
        if not plan.fetch_now:
            return self._memo_listing(plan)
        return self._loop.run(self._fetch_now(plan, resolved, on_update))

    def start(
        self, providers: Sequence[str] | None = None, *, refresh: bool = False,
        on_update: OnUpdate | None = None, settings: Mapping[str, object] | None = None,
    ) -> concurrent.futures.Future[ModelListing]:
        """`get_all_models` without waiting: the future completes with the listing."""
        resolved = resolve_settings(settings)
        plan = self._plan(providers, resolved, refresh)
        if plan.fetch_behind:
            self._fetch_behind(plan.fetch_behind, resolved)
        if plan.fetch_now:
            return self._loop.submit(self._fetch_now(plan, resolved, on_update))
        import concurrent.futures

        done: concurrent.futures.Future[ModelListing] = concurrent.futures.Future()
        done.set_result(self._memo_listing(plan))  # all from the cache: no trip to the loop
        return done

    def cached(self, providers: Sequence[str] | None = None) -> ModelListing:
        """What the cache holds for the logged-in providers, however old; no network."""
        self._facts_behind(resolve_settings())
        with self._lock:
            self.cache.sync()
            accesses = tuple(logged_in(tuple(providers) if providers else None))
            entries = self._valid_entries(accesses, providers or None)
            return self._listings.build(accesses, entries, self._failures, frozenset(),
                                        frozenset(), new=self._new)

    def refresh(self, providers: Sequence[str] | None = None,
                settings: Mapping[str, object] | None = None) -> ModelListing:
        return self.get_all_models(providers, refresh=True, settings=settings)

    def wait_background(self, timeout: float | None = None) -> None:
        """Let background refreshes finish (a CLI calls this before it exits)."""
        if self._pending:
            import concurrent.futures

            concurrent.futures.wait(list(self._pending), timeout=timeout)

    # -- planning -----------------------------------------------------------------------
    def _plan(self, providers: Sequence[str] | None, settings: Settings, refresh: bool) -> _Plan:
        self._facts_behind(settings)
        now = self.clock()
        with self._lock:
            self.cache.sync()
            accesses = tuple(logged_in(tuple(providers) if providers else None))
            entries = self._valid_entries(accesses, providers or None)
            stale, fetch_now, fetch_behind = set(), [], []
            for access in accesses:
                entry = entries.get(access.id)
                wait = self._decide(access, entry, settings, refresh, now)
                if wait is None:
                    continue
                if wait:
                    fetch_now.append(access)
                else:
                    stale.add(access.id)
                    fetch_behind.append(access)
            return _Plan(accesses, entries, frozenset(stale), tuple(fetch_now),
                         tuple(fetch_behind))

    def _decide(self, access: ProviderAccess, entry: CacheEntry | None, settings: Settings,
                refresh: bool, now: float) -> bool | None:
        """None: serve the entry; True: fetch and wait; False: serve stale, fetch behind."""
        counters = self.cache.counters
        if refresh:
            return True
        failure = self._failures.get(access.id)
        if (failure and failure.fingerprint == access.fingerprint
                and now - failure.at < RETRY_AFTER_SECONDS):
            return None  # shown as failed (or absent) until the retry window passes
        if entry is None:
            counters.misses += 1
            log.debug("cache miss: %s", access.id)
            return True
        if settings.model_cache_strategy == "fresh":
            return True
        if is_absent(access, entry):  # probe a stopped local server again, now and then
            expired = now - entry.fetched_at > ABSENT_RECHECK_SECONDS
            return None if not expired else settings.model_cache_refresh == "block"
        expired = cache_rules.is_expired(entry.fetched_at, now, settings.model_cache_strategy,
                                         settings.model_cache_ttl_seconds)
        if not expired:
            counters.hits += 1
            log.debug("cache hit: %s", access.id)
            return None
        if settings.model_cache_refresh == "block":
            return True
        counters.stale_serves += 1
        log.debug("cache stale: %s (refreshing in the background)", access.id)
        return False

    def _valid_entries(self, accesses: Sequence[ProviderAccess],
                       requested: Sequence[str] | None) -> dict[str, CacheEntry]:
        self._forget_logged_out(requested, {a.id for a in accesses})
        entries = {}
        for access in accesses:
            entry = self.cache.get(access.id, access.fingerprint)
            if entry is not None:
                entries[access.id] = entry
            failure = self._failures.get(access.id)
            if failure and failure.fingerprint != access.fingerprint:
                del self._failures[access.id]  # the key changed: forget the old failure
        return entries

    def _forget_logged_out(self, requested: Sequence[str] | None, asked: set[str]) -> None:
        """A provider in scope (all, or the ones requested) that is not logged in any more
        (logout, unset variable) loses its list at once, here and on disk."""
        entries = self.cache.entries()
        gone = [pid for pid in (entries if requested is None else requested)
                if pid in entries and pid not in asked]
        if not gone:
            return
        specs = all_specs()
        for pid in gone:
            if pid in specs:  # an unknown id may belong to another config: leave it
                log.debug("cache: %s is logged out; dropping its list", pid)
                self.cache.invalidate({pid: entries[pid].fingerprint})

    def _facts_behind(self, settings: Settings) -> None:
        """Before a listing is built: the facts in force (live catalog or snapshot), and a
        fetch of the live catalog behind the caller when it is a day old. Never waits."""
        future = facts.refresh_in_background(settings)
        if future is not None:
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    # -- fetching -----------------------------------------------------------------------
    @property
    def _aggregator(self) -> Aggregator:
        if self._aggregator_instance is None:
            from .aggregator import Aggregator

            limit = {} if self._max_body_bytes is None else {"max_body_bytes": self._max_body_bytes}
            self._aggregator_instance = Aggregator(self._loop.client, **limit)
        return self._aggregator_instance

    async def _fetch_now(self, plan: _Plan, settings: Settings,
                         on_update: OnUpdate | None) -> ModelListing:
        """Runs on the loop, which only waits: storing results (the cache file and its lock)
        and building listings happen in a worker thread, so one provider's big answer or a
        lock held elsewhere never runs down the other providers' clocks."""
        import asyncio  # here: serving the cache loads no asyncio

        waiting = {a.id for a in plan.fetch_now}
        fresh: set[str] = set()
        entries = dict(plan.entries)

        def report() -> None:
            if on_update is not None:
                on_update(self._listings.build(
                    plan.accesses, entries, self._failures, plan.stale, frozenset(fresh),
                    exclude=frozenset(waiting), new=self._new), tuple(sorted(waiting)))

        def take(access: ProviderAccess, result: FetchResult | None) -> None:
            entry = self._record(access, result)
            if entry is not None:
                entries[access.id] = entry
                fresh.add(access.id)
            report()

        await asyncio.to_thread(report)  # what is known before any answer, and who is asked
        async for access, result in self._aggregator.fetch_each(
                plan.fetch_now, timeout=settings.provider_timeout_seconds):
            waiting.discard(access.id)
            # Storing writes the file and may wait for its lock: never on the loop, where it
            # would stall every other provider's clock (docs/architecture.md, threads).
            await asyncio.to_thread(take, access, result)
        return await asyncio.to_thread(self._listings.build, plan.accesses, entries,
                                       self._failures, plan.stale, frozenset(fresh),
                                       new=self._new)

    def _fetch_behind(self, accesses: Sequence[ProviderAccess], settings: Settings) -> None:
        import asyncio

        async def refresh() -> None:
            async for access, result in self._aggregator.fetch_each(
                    accesses, timeout=settings.provider_timeout_seconds):
                await asyncio.to_thread(self._record, access, result)

        future = self._loop.submit(refresh())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _record(self, access: ProviderAccess, result: FetchResult | None) -> CacheEntry | None:
        """Store one provider's result, once even when several callers shared the fetch.

        None is a local server found not running: remembered as an empty list, shown as
        nothing, and probed again (in the background) after ABSENT_RECHECK_SECONDS.
        """
        if result is None:
            with self._lock:
                self._failures.pop(access.id, None)
                return self.cache.put(CacheEntry(access.id, access.fingerprint, self.clock(), ()))
        with self._lock:
            first = self._recorded.get(access.id) is not result
            self._recorded[access.id] = result
            if result.error is not None:
                if first:
                    self.cache.counters.errors += 1
                    log.debug("fetch failed: %s: %s", access.id, result.error)
                self._failures[access.id] = Failure(access.fingerprint, self.clock(),
                                                     result.error)
                return None
            self._failures.pop(access.id, None)
            if not first:
                return self.cache.get(access.id, access.fingerprint)
            self.cache.counters.refreshes += 1
            models = sort_models(result.models or ())
            previous = self.cache.get(access.id, access.fingerprint)
            self._new[access.id] = added_models(previous, models)
            return self.cache.put(CacheEntry(access.id, access.fingerprint, self.clock(),
                                             models))

    def _memo_listing(self, plan: _Plan) -> ModelListing:
        return self._listings.memo(plan.accesses, plan.entries, self._failures, plan.stale,
                                   self._new)

    # -- cache control ------------------------------------------------------------------
    def clear_cache(self, providers: Sequence[str] | None = None) -> list[str]:
        """Forget cached lists (all, or these providers') here and in the shared file."""
        if providers:
            unknown = [p for p in providers if p not in all_specs()]
            if unknown:
                raise SettingError(f"unknown provider {', '.join(unknown)}; "
                                   f"known: {', '.join(all_specs())}")
        with self._lock:
            cleared = self.cache.clear(providers)
            for pid in providers or list(self._failures):
                self._failures.pop(pid, None)
            for pid in providers or list(self._new):
                self._new.pop(pid, None)
            self._listings.forget()
        return cleared

    def stats(self) -> dict[str, object]:
        with self._lock:
            self.cache.sync()
            stats = self.cache.stats()
        aggregator = self._aggregator_instance
        stats["in_flight"] = aggregator.in_flight() if aggregator else []
        return stats

    # -- selection (selection.py) -------------------------------------------------------
    def select(self, name: str, settings: Mapping[str, object] | None = None) -> SelectionChange:
        return selection.select(self, name, settings)

    def resolve_name(self, name: str, settings: Mapping[str, object] | None = None) -> Model:
        return selection.resolve_name(self, name, settings)

    def current(self) -> CurrentModel | None:
        return selection.current(self)

    def cached_models(self, access: ProviderAccess) -> tuple[Model, ...]:
        """`access`'s cached models with their facts, however old; () when none. No network."""
        with self._lock:
            self.cache.sync()
            entry = self.cache.get(access.id, access.fingerprint)
            return self._listings.models(access, entry) if entry else ()

    def favourites(self) -> tuple[str, ...]:
        return load_state().favourites

    def recents(self) -> tuple[str, ...]:
        return load_state().recents

    def toggle_favourite(self, full_name: str) -> tuple[str, ...]:
        return toggle_favourite(full_name).favourites


_listed_memo: dict[str, tuple[CacheEntry, int, list[str]]] = {}


def _listed_names(entry: CacheEntry) -> list[str]:
    """The names shell completion offers for `entry`: those a listing shows by default, the
    model facts included (the index is written from a worker thread, never the loop).
    Worked out once per entry and catalog of facts: the index is rewritten with every write."""
    generation = facts.generation()
    memo = _listed_memo.get(entry.provider_id)
    if memo is not None and memo[0] is entry and memo[1] == generation:
        return memo[2]
    try:
        spec = all_specs().get(entry.provider_id)
    except SettingError:  # a broken config.toml: what the provider said
        spec = None
    models = facts.enrich(entry.models, spec) if spec else entry.models
    names = [m.id for m in models if m.listed_by_default]
    _listed_memo[entry.provider_id] = (entry, generation, names)
    return names


_default: Catalog | None = None
_default_lock = threading.Lock()


def get_catalog() -> Catalog:
    """The process's catalog; a new one when the cache folder changed (tests, notebooks)."""
    global _default
    with _default_lock:
        if _default is None or _default.cache.file.path != cache_dir() / FILE_NAME:
            if _default is not None:
                _default.cache.flush_counters()
            _default = Catalog()
        return _default


@atexit.register
def _flush_counters_at_exit() -> None:
    """Every process adds its cache counts to the totals that `forge-ipy cache stats` shows."""
    if _default is not None:
        _default.cache.flush_counters()


def get_all_models(providers: Sequence[str] | None = None, *, refresh: bool = False,
                   **settings: object) -> ModelListing:
    return get_catalog().get_all_models(providers, refresh=refresh, settings=settings)


def select(name: str) -> SelectionChange:
    return get_catalog().select(name)


def current() -> CurrentModel | None:
    return get_catalog().current()


def refresh(providers: Sequence[str] | None = None) -> ModelListing:
    return get_catalog().refresh(providers)


def stats() -> dict[str, object]:
    return get_catalog().stats()
