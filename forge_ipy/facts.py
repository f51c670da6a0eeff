"""The catalog of model facts: what each model is, where its provider does not say.

`enrich` is the one seam through which listings take facts (DESIGN.md "Model facts"). Field
by field the first source wins: the provider's own answer (and a gateway's, which the wire
module records in `facts_from`), then the catalog; then `kind` is decided (kinds.py).

The catalog is the snapshot bundled in the package (`data/model_facts.json`, built by
`scripts/update-model-facts`) until the live one from `model_facts_url` has been fetched:
in the background, at most once a day, cached in the cache folder as `model_facts.json`.
Threads: `refresh_in_background` runs on the caller's thread and only reads memory and, when
it changed, the small cache file; the fetch waits on the package's event loop; parsing,
checking and writing the file run in a worker thread (never on the loop).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .domain import FACT_SOURCES, Model
from .factindex import (
    FACT_FIELDS,
    FactIndex,
    Facts,
    compact_api_document,
    dump_compact,
    parse_json,
    read_compact,
)
from .kinds import kind_from_id
from .providers.registry import BUILTINS, ProviderAccess, ProviderSpec

if TYPE_CHECKING:
    import concurrent.futures

    from .loop import BackgroundLoop
    from .settings import Settings

FILE_NAME = "model_facts.json"
SNAPSHOT_PATH = Path(__file__).parent / "data" / FILE_NAME
MAX_AGE_SECONDS = 24 * 3600.0  # the live catalog is fetched at most once a day
RETRY_SECONDS = 3600.0  # after a failed fetch
TIMEOUT_SECONDS = 30.0
MAX_BODY_BYTES = 32 * 1024 * 1024  # models.dev's whole api.json is a few MB
OFF = "off"
_KEEP = object()
_BUILTIN_IDS = frozenset(spec.id for spec in BUILTINS)

log = logging.getLogger("forge_ipy")


# -- filling models --------------------------------------------------------------------------
def enrich_with(index: FactIndex, models: Sequence[Model], spec: ProviderSpec
                ) -> tuple[Model, ...]:
    """`models` of `spec` with what `index` knows filled in where the provider said nothing."""
    lookup = index.lookup_for(spec.id, builtin=spec.id in _BUILTIN_IDS)
    return tuple(_enrich_one(model, lookup(model.id)) for model in models)


def _enrich_one(model: Model, facts: Facts | None) -> Model:
    update: dict[str, Any] = {}
    said = model.kind is not None  # whether the provider gave any fact, for facts_from
    for name in FACT_FIELDS:
        value = getattr(model, name)
        if value is not None and value != ():
            said = True
        elif facts is not None and name in facts:
            update[name] = facts[name]
    if model.kind is None:
        catalog_kind = facts.get("kind") if facts else None
        update["kind"] = catalog_kind or kind_from_id(model.id) or "chat"
        from_catalog = bool(update.keys() - {"kind"}) or catalog_kind is not None
    else:
        from_catalog = bool(update)
    sources = model.facts_from or (("provider",) if said else ())
    if from_catalog and "catalog" not in sources:
        sources = tuple(s for s in FACT_SOURCES if s in sources or s == "catalog")
    if sources != model.facts_from:
        update["facts_from"] = sources
    return model.model_copy(update=update) if update else model


# -- the catalog in force --------------------------------------------------------------------
class ModelFacts:
    """The bundled snapshot, superseded by the live catalog once fetched (and cached)."""

    def __init__(self, *, cache_path: Path | None = None, snapshot_path: Path = SNAPSHOT_PATH,
                 loop: BackgroundLoop | None = None, clock: Callable[[], float] = time.time,
                 timeout: float = TIMEOUT_SECONDS, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._cache_path = cache_path  # None: the cache folder's, looked up at each use
        self._snapshot_path = snapshot_path
        self._loop = loop
        self._clock = clock
        self._timeout = timeout
        self._max_body_bytes = max_body_bytes
        self._lock = threading.RLock()
        self._snapshot: FactIndex | None = None
        self._live: FactIndex | None = None
        self._use_live = False
        self._read: tuple[Path, str, tuple[int, int, int] | None] | None = None
        self._fetched_at: float | None = None  # of the live catalog held
        self._checked_at: float | None = None  # last attempt, whatever came of it
        self._pending: concurrent.futures.Future[None] | None = None
        self._warned: set[str] = set()
        self.generation = 0  # changes whenever `current()` changes: part of a memo's key

    def current(self) -> FactIndex:
        live = self._in_force()
        return live if live is not None else self.snapshot()

    def enrich(self, models: Sequence[Model], spec: ProviderSpec) -> tuple[Model, ...]:
        return enrich_with(self.current(), models, spec)

    def snapshot(self) -> FactIndex:
        if self._snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._load_snapshot()
        return self._snapshot

    def _load_snapshot(self) -> FactIndex:
        try:
            data = parse_json(self._snapshot_path.read_bytes())
            return FactIndex(read_compact(data, trusted=True))
        except (OSError, ValueError) as exc:
            self._warn("snapshot", f"the bundled catalog of model facts "
                       f"{self._snapshot_path} is unusable ({exc}); reinstall forge-ipy")
            return FactIndex({})

    # -- the live catalog ------------------------------------------------------------------
    def refresh_in_background(self, url: str) -> concurrent.futures.Future[None] | None:
        """Serve the live catalog of `url` when one is cached (`off`: the snapshot only), and
        fetch it behind the caller when it is a day old. Returns the fetch's future, if any.

        Cheap: a look at the cache file's stamp, then memory; never waits on the network.
        """
        with self._lock:
            if url == OFF:
                self._serve(use_live=False)
                return None
            path = self._path()
            self._read_cache(path, url)
            self._serve(use_live=True)
            if not self._due() or (self._pending is not None and not self._pending.done()):
                return None
            from .loop import background_loop

            loop = self._loop or background_loop()
            self._pending = loop.submit(self._refresh(loop, url, path))
            return self._pending

    def _path(self) -> Path:
        if self._cache_path is not None:
            return self._cache_path
        from .settings import cache_dir

        return cache_dir() / FILE_NAME

    def _due(self) -> bool:
        now = self._clock()
        fetched, checked = self._fetched_at, self._checked_at
        old = fetched is None or not 0 <= now - fetched < MAX_AGE_SECONDS
        return old and (checked is None or not 0 <= now - checked < RETRY_SECONDS)

    def _serve(self, *, use_live: bool, live: FactIndex | object | None = _KEEP) -> None:
        """Change what serves, counting a new generation when the catalog in force changes."""
        before = self._in_force()
        self._use_live = use_live
        if live is not _KEEP:
            self._live = live  # type: ignore[assignment]
        if self._in_force() is not before:
            self.generation += 1

    def _in_force(self) -> FactIndex | None:
        """The live catalog when it serves; None when the snapshot does."""
        return self._live if self._use_live else None

    def _read_cache(self, path: Path, url: str) -> None:
        """Take the cached live catalog for `url` into memory when the file changed."""
        from .settings import file_stamp

        stamp = file_stamp(str(path))
        if self._read == (path, url, stamp):
            return
        self._read = (path, url, stamp)
        live, fetched, checked = None, None, None
        if stamp is not None:
            try:
                live, fetched, checked = self._parse_cache(path, url)
            except (OSError, ValueError) as exc:
                self._warn("cache", f"the cached catalog of model facts {path} is unusable "
                           f"({exc}); the bundled snapshot serves until it is fetched again")
        self._fetched_at, self._checked_at = fetched, checked
        self._serve(use_live=self._use_live, live=live)

    def _parse_cache(self, path: Path, url: str
                     ) -> tuple[FactIndex | None, float | None, float | None]:
        from .files import read_regular  # bounded, and a named pipe never blocks

        data = parse_json(read_regular(path, self._max_body_bytes))
        providers = read_compact(data)
        if data.get("url") != url:
            return None, None, None  # fetched from another address: not this setting's
        fetched, checked = _time(data.get("fetched_at")), _time(data.get("checked_at"))
        return (FactIndex(providers) if providers else None), fetched, checked

    async def _refresh(self, loop: BackgroundLoop, url: str, path: Path) -> None:
        """On the loop: only the wait for the body. The rest runs in a worker thread."""
        import asyncio

        from .errors import ProviderError
        from .providers.fetch import fetch_document

        body, reason = None, None
        try:
            body = await asyncio.wait_for(fetch_document(
                loop.client(), _catalog_access(url), max_body_bytes=self._max_body_bytes),
                self._timeout)
        except TimeoutError:
            reason = f"no answer within {self._timeout:g} s"
        except ProviderError as exc:
            reason = str(exc)
        await asyncio.to_thread(self._settle, url, path, body, reason)

    def _settle(self, url: str, path: Path, body: bytes | None, reason: str | None) -> None:
        """In a worker thread: check the fetched catalog, cache it and serve it; or note the
        failure (one warning) so the next try waits RETRY_SECONDS."""
        now = self._clock()
        index = None
        if body is not None:
            try:
                providers = compact_api_document(parse_json(body))
                index = FactIndex(providers)
            except ValueError as exc:
                reason = f"the catalog is damaged: {exc}"
        if index is None:
            self._warn("fetch", f"cannot refresh the catalog of model facts from {_shown(url)} "
                       f"({reason}); the facts at hand keep serving")
            self._record(path, url, now, fetched=None, providers=None)
            return
        self._record(path, url, now, fetched=now, providers=providers)
        with self._lock:
            self._serve(use_live=self._use_live, live=index)

    def _record(self, path: Path, url: str, now: float, *, fetched: float | None,
                providers: dict[str, dict[str, Facts]] | None) -> None:
        """Write the cache file: a new catalog, or the old one with this attempt's time."""
        from .files import atomic_write, read_regular
        from .settings import file_stamp

        with self._lock:
            self._checked_at = now
            if fetched is not None:
                self._fetched_at = fetched
            same = self._read is not None and self._read[:2] == (path, url)
        if providers is None:
            try:
                providers = (read_compact(parse_json(read_regular(path, self._max_body_bytes)))
                             if same else {})
            except (OSError, ValueError):
                providers = {}
        header = {"url": url, "fetched_at": self._fetched_at if providers else None,
                  "checked_at": now}
        try:
            atomic_write(path, dump_compact(providers, **header))
        except OSError as exc:
            self._warn("write", f"cannot write the catalog of model facts to {path} ({exc}); "
                       "keeping it in memory. Check FORGE_IPY_CACHE_DIR")
            return
        with self._lock:
            self._read = (path, url, file_stamp(str(path)))

    def wait(self, timeout: float | None = None) -> None:
        """Let a running fetch finish (tests; a CLI about to exit)."""
        pending = self._pending
        if pending is not None:
            import concurrent.futures

            concurrent.futures.wait([pending], timeout=timeout)

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:  # one line per problem, not one per listing
            self._warned.add(key)
            log.warning(message)


def _time(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _shown(url: str) -> str:
    """`url` without any user:password part, fit for a message."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return scheme + sep + authority.rpartition("@")[2] + slash + path if sep else url


def _catalog_access(url: str) -> ProviderAccess:
    """The catalog's address as the fetch layer takes a provider's: no key, no redirects."""
    spec = ProviderSpec("model_facts", "catalog of model facts", "openai", url)
    return ProviderAccess(spec, url, True, None)


# -- the package's catalog ---------------------------------------------------------------
_FACTS = ModelFacts()


def model_facts() -> ModelFacts:
    return _FACTS


def enrich(models: Sequence[Model], spec: ProviderSpec) -> tuple[Model, ...]:
    """`models` of the provider `spec` with every field the provider left empty filled from
    the next source (gateway, catalog), `kind` decided, and `facts_from` saying who filled what.
    Pure for a given catalog: listings memoise it with `generation()` in the key."""
    return _FACTS.enrich(models, spec)


def generation() -> int:
    """Changes whenever the catalog in force changes (the live one arrived, `off` was set)."""
    return _FACTS.generation


def refresh_in_background(settings: Settings | None = None
                          ) -> concurrent.futures.Future[None] | None:
    """Call when a listing is built, before `enrich`: serves the cached live catalog (unless
    `model_facts_url` is `off`) and fetches a new one behind the caller once a day."""
    if settings is None:
        from .settings import resolve_settings

        settings = resolve_settings()
    return _FACTS.refresh_in_background(settings.model_facts_url)
