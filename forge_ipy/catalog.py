"""The service every frontend calls: the model list, refresh, select, current, stats.

It decides, per provider, whether to serve the cache, serve it stale and refresh behind it,
or fetch and wait, following the settings (DESIGN.md "Settings"). Fetches run on the
package's event loop through the aggregator; results land in the cache. Frontends (magics,
widget, CLI) call only this module and display helpers.
"""

from __future__ import annotations

import atexit
import logging
import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cache import FILE_NAME, CacheEntry, ModelCache
from .domain import Model, ModelListing, ProviderStatus, Selection, sort_models, split_full_name
from .errors import ProviderError, SelectionError, SettingError
from .loop import BackgroundLoop, background_loop
from .providers.registry import ProviderAccess, all_specs, logged_in, resolve
from .settings import Settings, cache_dir, resolve_settings
from .state import load_state, save_selection, toggle_favourite

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
class SelectionChange:
    previous: Selection | None
    selection: Selection
    provider_name: str

    @property
    def provider_switched(self) -> bool:
        return self.previous is None or self.previous.provider_id != self.selection.provider_id

    @property
    def message(self) -> str:
        text = f"Switched to model: {self.selection.model}"
        return text + (f" on provider: {self.provider_name}" if self.provider_switched else "")


@dataclass(frozen=True)
class CurrentModel:
    """The active selection as code needs it. Never holds the key."""

    provider_id: str
    provider_name: str
    model: str
    api_root: str | None
    info: Model | None

    @property
    def full_name(self) -> str:
        return f"{self.provider_id}/{self.model}"


@dataclass(frozen=True)
class _Failure:
    fingerprint: str
    at: float
    error: ProviderError


@dataclass(frozen=True)
class _Plan:
    """What to do for each provider now: serve from cache, or fetch (now or behind)."""

    accesses: tuple[ProviderAccess, ...]
    entries: dict[str, CacheEntry]
    stale: frozenset[str]
    fetch_now: tuple[ProviderAccess, ...]
    fetch_behind: tuple[ProviderAccess, ...]


def _close_names(name: str, listing: ModelListing, most: int = 5) -> tuple[str, ...]:
    """Full names that contain `name`, then those spelled like it (as full name or bare id)."""
    import difflib  # only for a name that matched nothing

    full = [m.full_name for m in listing]
    lowered = name.lower()
    similar_ids = set(difflib.get_close_matches(name, {m.id for m in listing}, most, 0.6))
    found = [n for n in full if lowered in n.lower()]
    found += difflib.get_close_matches(name, full, most, 0.6)
    found += [m.full_name for m in listing if m.id in similar_ids]
    return tuple(dict.fromkeys(found))[:most]


def _absent(access: ProviderAccess, entry: CacheEntry | None) -> bool:
    """An empty list from a keyless local server found at its default root: not running."""
    return (entry is not None and not entry.models and access.spec.keyless
            and not access.root_explicit)


class Catalog:
    def __init__(self, *, cache: ModelCache | None = None, loop: BackgroundLoop | None = None,
                 clock: Callable[[], float] = time.time,
                 max_body_bytes: int | None = None) -> None:
        self.cache = cache or ModelCache(clock=clock)
        self.clock = clock
        self._loop = loop or background_loop()
        self._max_body_bytes = max_body_bytes
        self._aggregator_instance: Aggregator | None = None
        self._failures: dict[str, _Failure] = {}
        # The result each provider's store last came from: held, not its id(), since a freed
        # result's id is reused and would make the next fetch look already recorded.
        self._recorded: dict[str, FetchResult] = {}
        self._view: tuple[tuple, tuple, ModelListing] | None = None
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
        with self._lock:
            self.cache.sync()
            accesses = tuple(logged_in(tuple(providers) if providers else None))
            entries = self._valid_entries(accesses, providers or None)
            return self._listing(accesses, entries, frozenset(), fresh=frozenset())

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
        if _absent(access, entry):  # probe a stopped local server again, now and then
            expired = now - entry.fetched_at > ABSENT_RECHECK_SECONDS
            return None if not expired else settings.model_cache_refresh == "block"
        expired = (settings.model_cache_strategy == "moderate"
                   and now - entry.fetched_at > settings.model_cache_ttl_seconds)
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
        waiting = {a.id for a in plan.fetch_now}
        fresh: set[str] = set()
        entries = dict(plan.entries)

        def report() -> None:
            if on_update is not None:
                on_update(self._listing(plan.accesses, entries, plan.stale, frozenset(fresh),
                                        exclude=frozenset(waiting)), tuple(sorted(waiting)))

        report()  # what is known before any answer, and who is being asked
        async for access, result in self._aggregator.fetch_each(
                plan.fetch_now, timeout=settings.provider_timeout_seconds):
            waiting.discard(access.id)
            entry = self._record(access, result)
            if entry is not None:
                entries[access.id] = entry
                fresh.add(access.id)
            report()
        return self._listing(plan.accesses, entries, plan.stale, frozenset(fresh))

    def _fetch_behind(self, accesses: Sequence[ProviderAccess], settings: Settings) -> None:
        async def refresh() -> None:
            async for access, result in self._aggregator.fetch_each(
                    accesses, timeout=settings.provider_timeout_seconds):
                self._record(access, result)

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
                self._failures[access.id] = _Failure(access.fingerprint, self.clock(),
                                                     result.error)
                return None
            self._failures.pop(access.id, None)
            if not first:
                return self.cache.get(access.id, access.fingerprint)
            self.cache.counters.refreshes += 1
            return self.cache.put(CacheEntry(access.id, access.fingerprint, self.clock(),
                                             sort_models(result.models or ())))

    # -- building listings --------------------------------------------------------------
    def _memo_listing(self, plan: _Plan) -> ModelListing:
        """The same listing object as last time when nothing changed: a lookup, not a copy."""
        key = tuple((a.id, a.id in plan.stale) for a in plan.accesses)
        # Entries and failures are compared by identity and held, so a freed one's id()
        # reused by a newer one can never bring back an old view.
        refs = tuple(x for a in plan.accesses
                     for x in (plan.entries.get(a.id), self._failures.get(a.id)))
        view = self._view
        if view is not None and view[0] == key and all(map(operator.is_, view[1], refs)):
            return view[2]
        listing = self._listing(plan.accesses, plan.entries, plan.stale, frozenset())
        self._view = (key, refs, listing)
        return listing

    def _listing(self, accesses: Sequence[ProviderAccess], entries: Mapping[str, CacheEntry],
                 stale: frozenset[str], fresh: frozenset[str],
                 exclude: frozenset[str] = frozenset()) -> ModelListing:
        statuses: list[ProviderStatus] = []
        models: list[Model] = []
        for access in accesses:
            if access.id in exclude:
                continue
            status = self._status(access, entries.get(access.id), access.id in stale,
                                  access.id in fresh)
            if status is not None:
                statuses.append(status)
                models.extend(entries[access.id].models if access.id in entries else ())
        return ModelListing(sort_models(models), tuple(statuses))

    def _status(self, access: ProviderAccess, entry: CacheEntry | None, stale: bool,
                fresh: bool) -> ProviderStatus | None:
        failure = self._failures.get(access.id)
        error = failure.error if failure else None
        if entry is None and error is None:
            return None  # not fetched yet
        if error is None and _absent(access, entry):
            return None  # a local server that is not running: not an error, nothing to show
        return ProviderStatus(
            id=access.id, name=access.name, ok=error is None,
            model_count=len(entry.models) if entry else 0,
            from_cache=entry is not None and not fresh, stale=stale or error is not None,
            fetched_at=entry.fetched_at if entry else None,
            error_kind=error.kind if error else None,  # type: ignore[arg-type]
            error=str(error) if error else None,
        )

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
            self._view = None
        return cleared

    def stats(self) -> dict[str, object]:
        with self._lock:
            self.cache.sync()
            stats = self.cache.stats()
        aggregator = self._aggregator_instance
        stats["in_flight"] = aggregator.in_flight() if aggregator else []
        return stats

    # -- selection ----------------------------------------------------------------------
    def select(self, name: str, settings: Mapping[str, object] | None = None) -> SelectionChange:
        """Make `provider/model` (or an unambiguous bare model id) the active model.

        Provider and model are saved together in one write. Raises SelectionError with the
        reason and close matches when the name is unknown, ambiguous or not logged in.
        """
        model = self.resolve_name(name, settings)
        previous = load_state().selection
        selection = Selection(provider_id=model.provider_id, model=model.id)
        save_selection(selection)
        return SelectionChange(previous, selection, all_specs()[model.provider_id].name)

    def resolve_name(self, name: str, settings: Mapping[str, object] | None = None) -> Model:
        name = name.strip()
        if not name:
            raise SelectionError("give a model name, e.g. openai/gpt-4o")
        provider_id, _ = split_full_name(name)
        specs = all_specs()
        if provider_id in specs:
            access = resolve(specs[provider_id])
            if access.key is None and not access.spec.keyless:
                hint = access.spec.key_envs[0] if access.spec.key_envs else "its key"
                raise SelectionError(f"{provider_id} is not logged in; run `forge-ipy login "
                                     f"{provider_id}` or set {hint}")
        listing = self.get_all_models(settings=settings)
        exact = [m for m in listing if m.full_name == name] or [m for m in listing if m.id == name]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            names = tuple(m.full_name for m in exact)
            raise SelectionError(f"{name!r} is offered by several providers; pick one: "
                                 f"{', '.join(names)}", names)
        raise self._unknown(name, listing, provider_id if provider_id in specs else None)

    def _unknown(self, name: str, listing: ModelListing, provider_id: str | None) -> SelectionError:
        status = listing.status(provider_id) if provider_id else None
        if provider_id and status is not None and not status.ok and not status.model_count:
            return SelectionError(f"cannot check {name!r}: {provider_id} failed ({status.error})")
        close = _close_names(name, listing)
        hint = f"; did you mean: {', '.join(close)}?" if close else \
            "; `forge-ipy models` lists them all"
        return SelectionError(f"unknown model {name!r}{hint}", close)

    def current(self) -> CurrentModel | None:
        """The active provider and model, with the model's metadata when cached."""
        selection = load_state().selection
        if selection is None:
            return None
        spec = all_specs().get(selection.provider_id)
        access = resolve(spec) if spec else None
        info = None
        if access is not None:
            with self._lock:
                self.cache.sync()
                entry = self.cache.get(access.id, access.fingerprint)
            info = next((m for m in entry.models if m.id == selection.model), None) \
                if entry else None
        return CurrentModel(selection.provider_id, spec.name if spec else selection.provider_id,
                            selection.model, access.root if access else None, info)

    def favourites(self) -> tuple[str, ...]:
        return load_state().favourites

    def recents(self) -> tuple[str, ...]:
        return load_state().recents

    def toggle_favourite(self, full_name: str) -> tuple[str, ...]:
        return toggle_favourite(full_name).favourites


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
