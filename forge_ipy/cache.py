"""The model cache: per-provider entries in memory, backed by one shared file, `models.json`.

Memory answers a hit with the stored immutable entry, no copy. The file is shared by every
kernel, the terminal, the CLI and shell completion; it is written atomically under a
cross-process lock, merging with what other processes wrote. The format and its versions are
in docs/cache-format.md. Nothing here knows about HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import cache_rules
from .cache_rules import FILE_NAME, SCHEMA
from .domain import Model
from .files import (
    CACHE_FILE_BYTES,
    DamagedFileError,
    atomic_write,
    make_folder,
    parse_json,
    read_json,
    read_regular,
    to_json,
)
from .settings import cache_dir, file_stamp

# How long a write waits for the file's lock while nobody else writes. A holder that is
# stopped (SIGSTOP, a debugger) or stuck delays a write this long only; the list is still
# shown and kept in memory, and writes skip the lock for LOCK_RETRY_SECONDS. Writers that
# do make progress (the file changes meanwhile) are waited for, up to LOCK_MAX_WAIT_SECONDS.
LOCK_TIMEOUT_SECONDS = 2.0
LOCK_MAX_WAIT_SECONDS = 30.0
LOCK_RETRY_SECONDS = 30.0
MAX_STATS_BYTES = 1 << 20  # the counters log is folded into one line past 64 KB

log = logging.getLogger("forge_ipy")
_models_adapter = TypeAdapter(tuple[Model, ...])


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One provider's list as fetched with one credential and API root."""

    provider_id: str
    fingerprint: str
    fetched_at: float
    models: tuple[Model, ...]

    def to_json(self) -> dict[str, Any]:
        return {"provider_id": self.provider_id, "fingerprint": self.fingerprint,
                "fetched_at": self.fetched_at,
                "models": _models_adapter.dump_python(self.models, mode="json")}

    def listed_names(self) -> list[str]:
        """Ids of the models listed by default, as far as the provider's answer tells."""
        return [m.id for m in self.models if m.listed_by_default]

    def size_bytes(self) -> int:
        """The models' size as compact JSON: what the entry costs in the file."""
        return len(_models_adapter.dump_json(self.models))


def _entry_from_json(pid: str, raw: Any) -> CacheEntry:
    fault = cache_rules.entry_fault(raw, time.time())
    if fault is not None:
        raise ValueError(fault)
    rows = [{**row, "provider_id": pid} if isinstance(row, dict) else row
            for row in raw["models"]]
    models = _models_adapter.validate_python(rows)
    return CacheEntry(pid, raw["fingerprint"], float(raw["fetched_at"]), models)


class CacheFile:
    """`models.json`: read without a lock (writes are atomic), written merged under one."""

    def __init__(self, path: Path | None = None,
                 listed: Callable[[CacheEntry], list[str]] = CacheEntry.listed_names) -> None:
        self.path = path or cache_dir() / FILE_NAME
        # The names an entry offers to shell completion; the catalog hands in one that sees
        # the model facts too (a provider rarely says which model embeds or draws).
        self.listed = listed
        self.read_only = False  # set when the file is from a newer forge-ipy
        self._warned: set[str] = set()
        self._locked = False  # this object holds the lock (inside `write`)
        self._lock_stuck_until = 0.0  # time.monotonic() before which writes skip the lock
        self._read_signature: tuple[int, int] | None = None
        # What the file held when this object last wrote it, and its signature then: a write
        # that finds the file unchanged merges into that instead of reading and checking every
        # model again (a fetch of many providers writes once per provider).
        self._written: tuple[tuple[int, int] | None, dict[str, CacheEntry]] = (None, {})
        self._json_memo: dict[str, tuple[CacheEntry, dict[str, Any]]] = {}

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def signature(self) -> tuple[int, int] | None:
        """Changes whenever the file is replaced; None when there is no file."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def read(self) -> dict[str, CacheEntry]:
        """Valid-looking entries by provider id; bad files are set aside, never fatal."""
        self._read_signature = self.signature()
        try:
            data = read_json(self.path, CACHE_FILE_BYTES)
        except FileNotFoundError:
            return {}
        except DamagedFileError as exc:
            if self.path.is_file():  # damaged content: set aside and rebuilt
                self._set_aside(f"{exc}")
                return {}
            # A folder or a pipe is someone's: left alone.
            self._warn("unreadable", f"cannot read the model cache {self.path} (it {exc}); "
                       "fetching instead. Remove it, or run `forge-ipy cache clear`")
            return {}
        except OSError as exc:
            self._warn("unreadable", f"cannot read the model cache {self.path} ({exc}); "
                       "fetching instead. Fix its permissions or remove it")
            return {}
        return self._entries(data)

    def _entries(self, data: Any) -> dict[str, CacheEntry]:
        verdict, raw_entries = cache_rules.file_verdict(data)
        self.read_only = verdict == cache_rules.NEWER
        if verdict == cache_rules.NEWER:
            self._warn("newer", f"{self.path} was written by a newer forge-ipy (schema "
                       f"{data['schema']}); leaving it untouched and keeping lists in memory "
                       "only")
        elif verdict == cache_rules.OLDER:
            # Schema 1 entries carry no fingerprint: dropped, refetched, rewritten as schema 2.
            self._warn("older", f"{self.path} is from an older forge-ipy (schema "
                       f"{data['schema']}); its lists are fetched again and the file rewritten")
        elif verdict == cache_rules.CORRUPT:
            self._set_aside("is not a forge-ipy cache (empty, truncated, not JSON or no "
                            "entries table)")
        entries = {}
        for pid, raw in raw_entries.items():
            try:
                entries[pid] = _entry_from_json(pid, raw)
            except (ValueError, ValidationError, RecursionError):
                self._warn(f"entry:{pid}", f"dropped the cached {pid} list in {self.path}: "
                           "it is malformed; it will be fetched again")
        return entries

    def write(self, upsert: Mapping[str, CacheEntry],
              remove: Mapping[str, str | None] | None = None) -> dict[str, CacheEntry]:
        """Merge into the file under the lock and return what it now holds.

        `remove` maps provider id to the fingerprint to drop (None: whatever is there), so an
        entry another process just wrote with a new key survives our invalidation of the old.
        """
        from filelock import Timeout

        if self.read_only or time.monotonic() < self._lock_stuck_until:
            return {}
        try:
            make_folder(self.path.parent)
            with self._write_lock():
                self._locked = True
                signature, written = self._written
                unchanged = signature is not None and signature == self.signature()
                entries = dict(written) if unchanged else self.read()
                if self.read_only:
                    return {}
                for pid, fp in (remove or {}).items():
                    if pid in entries and (fp is None or entries[pid].fingerprint == fp):
                        del entries[pid]
                for pid, entry in upsert.items():
                    if pid not in entries or entries[pid].fetched_at <= entry.fetched_at:
                        entries[pid] = entry
                payload = {"schema": SCHEMA,
                           "entries": {pid: self._entry_json(e) for pid, e in
                                       sorted(entries.items())}}
                atomic_write(self.path, to_json(payload, separators=(",", ":")))
                self._written = (self.signature(), dict(entries))
                self._write_index(entries)
                return entries
        except Timeout:
            self._lock_stuck_until = time.monotonic() + LOCK_RETRY_SECONDS
            self._warn("locked", f"the model cache {self.path} is locked by another process "
                       f"(waited {LOCK_TIMEOUT_SECONDS:g} s); lists stay in memory only for now")
            return {}
        except OSError as exc:
            self._warn("write", f"cannot write the model cache {self.path} ({exc}); "
                       "lists stay in memory only")
            return {}
        finally:
            self._locked = False

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """The file's lock, waited for LOCK_TIMEOUT_SECONDS at a time while other writers
        make progress; raises filelock.Timeout when the holder makes none."""
        from filelock import FileLock, Timeout

        lock = FileLock(self.lock_path)
        deadline = time.monotonic() + LOCK_MAX_WAIT_SECONDS
        seen = self.signature()
        while True:
            try:
                lock.acquire(timeout=LOCK_TIMEOUT_SECONDS)
                break
            except Timeout:
                now = self.signature()
                if now == seen or time.monotonic() > deadline:
                    raise
                seen = now
        try:
            yield
        finally:
            lock.release()

    @property
    def index_path(self) -> Path:
        return self.path.with_name(cache_rules.INDEX_NAME)

    def _entry_json(self, entry: CacheEntry) -> dict[str, Any]:
        """`entry.to_json()`, made once per entry: every write rewrites every entry."""
        memo = self._json_memo.get(entry.provider_id)
        if memo is None or memo[0] is not entry:
            memo = self._json_memo[entry.provider_id] = (entry, entry.to_json())
        return memo[1]

    def _write_index(self, entries: Mapping[str, CacheEntry]) -> None:
        """Rewrite the names index that shell completion reads, tied to the file just written.

        A failure costs completion speed only (it then offers nothing and asks for a refresh).
        """
        stamp = file_stamp(str(self.path))
        if stamp is None:
            return
        rows = {pid: (entry.fingerprint, entry.fetched_at, self.listed(entry))
                for pid, entry in sorted(entries.items())}
        try:
            atomic_write(self.index_path, cache_rules.names_index(stamp, rows))
        except OSError as exc:
            log.debug("cannot write the names index %s: %s", self.index_path, exc)

    def reset(self) -> None:
        """Replace whatever is at the path with an empty cache (`forge-ipy cache clear`: what
        a user reaches for when something is wrong, so it works even without the lock)."""
        from filelock import FileLock, Timeout

        with contextlib.ExitStack() as held:
            try:
                held.enter_context(FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS))
            except (OSError, Timeout) as exc:
                log.warning("cannot lock the model cache %s (%s); clearing it anyway",
                            self.path, exc)
            if self.path.is_dir() and not self.path.is_symlink():  # someone's: moved aside
                os.replace(self.path, self.path.with_name(
                    f"{self.path.name}.corrupt-{int(time.time())}"))
            atomic_write(self.path, to_json({"schema": SCHEMA, "entries": {}}))
        self.read_only = False

    def _set_aside(self, why: str) -> None:
        """Move the bad file aside, under the lock and only if it is still the file we read:
        a reader holds no lock, and a writer may have just replaced it with a good one."""
        from filelock import FileLock, Timeout

        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        try:
            with contextlib.nullcontext() if self._locked else \
                    FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
                if self.signature() != self._read_signature:
                    return  # replaced meanwhile: the next read sees the new file
                os.replace(self.path, aside)
            where = f"moved to {aside.name}"
        except (OSError, Timeout):
            where = "left in place"
        self._warn("corrupt", f"the model cache {self.path} {why}; {where} and rebuilding it")

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:  # one line per problem, not one per call
            self._warned.add(key)
            log.warning(message)


@dataclass
class CacheCounters:
    hits: int = 0
    misses: int = 0
    stale_serves: int = 0
    refreshes: int = 0
    errors: int = 0

    def minus(self, other: CacheCounters) -> CacheCounters:
        return CacheCounters(**{k: v - getattr(other, k) for k, v in vars(self).items()})


STATS_NAME = "stats.jsonl"
COMPACT_STATS_BYTES = 64 * 1024


def add_to_totals(path: Path, delta: CacheCounters, now: float) -> None:
    """Append one process's counts to the log every process shares.

    One short `write` to a file opened for appending lands whole, so no lock (and no
    filelock import) is needed: a CLI run pays a few microseconds for its diagnostics.
    """
    counts = vars(delta)
    if not any(counts.values()):
        return
    line = to_json({"at": now, **counts}, separators=(",", ":")) + "\n"
    make_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


MAX_EPOCH = 1e11  # seconds: the year 5138
MAX_COUNT = 1 << 53


def _plausible(value: object, most: float) -> bool:
    """A number from the log that arithmetic can use: not a bool, NaN, infinity or a
    400-digit integer (compared first, which Python does exactly)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= most)


def read_totals(path: Path) -> dict[str, Any]:
    """The counts of every process added up, with `since` (the earliest); {} when none."""
    totals: dict[str, Any] = {}
    try:
        lines = read_regular(path, MAX_STATS_BYTES).splitlines()
    except (OSError, DamagedFileError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("ignoring the cache counters in %s (%s); remove the file", path, exc)
        return totals
    for line in lines:
        try:
            row = parse_json(line)
        except DamagedFileError:
            continue  # a damaged line costs its own counts only
        if not isinstance(row, dict) or not _plausible(row.get("at"), MAX_EPOCH):
            continue
        totals["since"] = min(totals.get("since", row["at"]), row["at"])
        for name in vars(CacheCounters()):
            count = row.get(name)
            if isinstance(count, int) and _plausible(count, MAX_COUNT):
                totals[name] = totals.get(name, 0) + count
    return totals


@dataclass
class ModelCache:
    """Memory entries for the process's lifetime, in step with the shared file."""

    file: CacheFile = field(default_factory=CacheFile)
    clock: Callable[[], float] = time.time
    counters: CacheCounters = field(default_factory=CacheCounters)
    _entries: dict[str, CacheEntry] = field(default_factory=dict)
    _seen_signature: tuple[int, int] | None = None
    _flushed: CacheCounters = field(default_factory=CacheCounters)

    def sync(self) -> None:
        """Take in what other processes wrote since we last looked (a stat when nothing did)."""
        signature = self.file.signature()
        if signature == self._seen_signature:
            return
        self._seen_signature = signature
        on_disk = self.file.read() if signature else {}
        if self.file.read_only:
            return
        # Writers always merge, so an entry missing from a changed file was removed on
        # purpose (invalidated, or `forge-ipy cache clear`): forget it here too.
        for pid in set(self._entries) - set(on_disk):
            del self._entries[pid]
        self._merge_written(on_disk, signature)

    def get(self, provider_id: str, fingerprint: str) -> CacheEntry | None:
        """The entry fetched with this credential and root; a mismatched one is invalidated."""
        entry = self._entries.get(provider_id)
        if entry is not None and entry.fingerprint != fingerprint:
            log.debug("cache: %s credential or root changed; dropping its list", provider_id)
            self.invalidate({provider_id: entry.fingerprint})
            entry = None
        return entry

    def put(self, entry: CacheEntry) -> CacheEntry:
        self._entries[entry.provider_id] = entry
        self._merge_written(self.file.write({entry.provider_id: entry}))
        return entry

    def invalidate(self, fingerprints: Mapping[str, str | None]) -> None:
        """Drop these providers' entries here and on disk (only the given fingerprints there)."""
        for pid in fingerprints:
            self._entries.pop(pid, None)
        self._merge_written(self.file.write({}, remove=fingerprints))

    def clear(self, provider_ids: Iterable[str] | None = None) -> list[str]:
        """Forget entries (all, or these providers') in memory and on disk; returns their ids."""
        self.sync()
        if provider_ids is None:  # everything: whatever the file holds, even a damaged one
            ids = list(self._entries)
            self._entries.clear()
            if not self.file.read_only:  # a newer forge-ipy's file is its business
                self.file.reset()
            self._seen_signature = None
            return ids
        ids = list(provider_ids)
        self.invalidate(dict.fromkeys(ids))
        return ids

    def entries(self) -> dict[str, CacheEntry]:
        return dict(self._entries)

    def _merge_written(self, on_disk: dict[str, CacheEntry],
                       signature: tuple[int, int] | None = None) -> None:
        # Our own write must not make the next sync() re-read the file.
        self._seen_signature = signature or self.file.signature()
        for pid, entry in on_disk.items():
            mine = self._entries.get(pid)
            if mine is None or mine.fetched_at < entry.fetched_at:
                self._entries[pid] = entry

    def flush_counters(self) -> dict[str, Any]:
        """Add what this process counted since the last flush to the shared totals; returns
        the totals of every process."""
        current = CacheCounters(**vars(self.counters))
        path = self.file.path.with_name(STATS_NAME)
        try:
            add_to_totals(path, current.minus(self._flushed), self.clock())
        except OSError as exc:  # diagnostics must never break a command or a kernel exit
            log.debug("cannot update cache counters: %s", exc)
        else:
            self._flushed = current
        totals = read_totals(path)
        with contextlib.suppress(OSError):
            if path.stat().st_size > COMPACT_STATS_BYTES:
                self._compact_totals(path)
        return totals

    def _compact_totals(self, path: Path) -> None:
        """Fold the log into one line, so it never grows past a few kilobytes for long."""
        from filelock import FileLock

        with FileLock(self.file.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            totals = read_totals(path)
            since = totals.pop("since", self.clock())
            atomic_write(path, to_json({"at": since, **totals}) + "\n")

    def stats(self) -> dict[str, Any]:
        now = self.clock()
        try:
            file_size = self.file.path.stat().st_size
        except OSError:
            file_size = None
        return {
            **vars(self.counters),
            "all_processes": self.flush_counters(),
            "file": {"path": str(self.file.path), "bytes": file_size,
                     "read_only": self.file.read_only},
            "providers": [
                {"id": pid, "models": len(e.models), "bytes": e.size_bytes(),
                 "age_seconds": round(max(0.0, now - e.fetched_at), 1)}
                for pid, e in sorted(self._entries.items())
            ],
        }
