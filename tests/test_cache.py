"""The shared file `models.json` (docs/cache-format.md): no secret in it, every kind of bad
file survived with one warning and correct results, migration from schema 1, a newer schema
left alone, and many real processes writing at once without losing an entry."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from forge_ipy import credentials
from forge_ipy.cache import FILE_NAME, SCHEMA, STATS_NAME, CacheEntry, CacheFile, ModelCache
from forge_ipy.catalog import Catalog
from forge_ipy.domain import Model
from forge_ipy.providers.registry import logged_in

SETTINGS = {"model_cache_strategy": "moderate", "model_cache_ttl_seconds": 100,
            "model_cache_refresh": "background"}
OPENAI_MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini", "openai/o3-mini"]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


def new_catalog(clock: FakeClock) -> Catalog:
    return Catalog(cache=ModelCache(clock=clock), clock=clock)


def cache_path() -> Path:
    return Path(os.environ["FORGE_IPY_CACHE_DIR"]) / FILE_NAME


def write_raw(content: str | bytes) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def entry(pid: str, fetched_at: float = 1.0, fingerprint: str = "f" * 32,
          model_ids: tuple[str, ...] = ("m",)) -> CacheEntry:
    return CacheEntry(pid, fingerprint, fetched_at,
                      tuple(Model(provider_id=pid, id=m) for m in model_ids))


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "forge_ipy" and r.levelno >= logging.WARNING]


def names(listing) -> list[str]:
    return [m.full_name for m in listing]


def one_warning_and_correct_results(catalog: Catalog, server, caplog) -> str:
    """Two calls give the right list from one fetch, and one warning line was logged."""
    listing = catalog.get_all_models(["openai"], settings=SETTINGS)
    again = catalog.get_all_models(["openai"], settings=SETTINGS)
    assert names(listing) == names(again) == OPENAI_MODELS
    assert len(server.requests_for("openai")) == 1
    [warning] = warnings_of(caplog)
    return warning


@pytest.fixture
def openai(loopback, serve):
    loopback.add("openai")
    return serve()


# -- no secret in the file -------------------------------------------------------------
def test_the_file_never_holds_the_key_or_a_plain_hash_of_it(openai, clock):
    key = openai.providers["openai"].key
    root = openai.root("openai")
    new_catalog(clock).get_all_models(["openai"], settings=SETTINGS)

    raw = cache_path().read_bytes()
    fingerprint = json.loads(raw)["entries"]["openai"]["fingerprint"]

    assert key.encode() not in raw
    assert len(fingerprint) == 32 and int(fingerprint, 16) >= 0
    for secret in (key, key + root, f"{key}\0{root}", f"{key}{root}", f"{root}{key}"):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        assert fingerprint not in digest
        assert digest[:32].encode() not in raw
    salt = Path(os.environ["FORGE_IPY_CONFIG_DIR"]) / credentials.SALT_NAME
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    assert fingerprint == credentials.fingerprint(key, root)


def test_the_fingerprint_depends_on_key_root_and_salt(monkeypatch, tmp_path):
    a = credentials.fingerprint("k1", "https://a/v1")
    assert a == credentials.fingerprint("k1", "https://a/v1")
    assert a != credentials.fingerprint("k2", "https://a/v1")
    assert a != credentials.fingerprint("k1", "https://b/v1")
    assert a != credentials.fingerprint(None, "https://a/v1")
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "elsewhere"))  # another salt
    assert a != credentials.fingerprint("k1", "https://a/v1")


# -- bad files ------------------------------------------------------------------------
SET_ASIDE = [
    pytest.param("", id="empty"),
    pytest.param('{"schema": 2, "entries": {"openai": {"provider_id": "op', id="truncated"),
    pytest.param("not json", id="not-json"),
    pytest.param("[]", id="a-list"),
    pytest.param('{"schema": "2", "entries": {}}', id="schema-a-string"),
    pytest.param('{"schema": 2, "entries": []}', id="entries-a-list"),
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
]


@pytest.mark.parametrize("content", SET_ASIDE)
def test_a_corrupt_file_is_set_aside_with_one_warning(openai, clock, caplog, content):
    write_raw(content)
    catalog = new_catalog(clock)

    warning = one_warning_and_correct_results(catalog, openai, caplog)
    assert "\n" not in warning and str(cache_path()) in warning
    aside = list(cache_path().parent.glob(f"{FILE_NAME}.corrupt-*"))
    if isinstance(content, str) and content.startswith("{"):
        assert len(aside) == 1 and aside[0].read_text() == content
    else:
        assert len(aside) == 1
    data = json.loads(cache_path().read_text())  # rebuilt
    assert data["schema"] == SCHEMA and set(data["entries"]) == {"openai"}
    assert names(new_catalog(clock).get_all_models(["openai"], settings=SETTINGS)) == \
        OPENAI_MODELS
    assert len(openai.requests_for("openai")) == 1  # the rebuilt file serves the next process


@pytest.mark.parametrize("bad_entry", [
    pytest.param({"fingerprint": 1}, id="fingerprint-a-number"),
    pytest.param({"fingerprint": "f" * 32, "fetched_at": "yesterday", "models": []},
                 id="fetched-at-a-string"),
    pytest.param({"fingerprint": "f" * 32, "fetched_at": 1.0, "models": {"id": "x"}},
                 id="models-a-dict"),
    pytest.param({"fingerprint": "f" * 32, "fetched_at": 1.0, "models": [{"name": "no id"}]},
                 id="model-without-id"),
    pytest.param("gpt-4o", id="entry-a-string"),
])
def test_a_malformed_entry_is_dropped_and_the_others_kept(openai, serve, clock, caplog,
                                                         bad_entry):
    openai.add("anthropic")
    serve()
    [access] = logged_in(("anthropic",))
    good = entry("anthropic", fetched_at=clock(), fingerprint=access.fingerprint)
    write_raw(json.dumps({"schema": 2, "entries": {"openai": bad_entry,
                                                   "anthropic": good.to_json()}}))

    listing = new_catalog(clock).get_all_models(["openai", "anthropic"], settings=SETTINGS)

    assert names(listing) == ["anthropic/m", *OPENAI_MODELS]
    assert openai.requests_for("anthropic") == []
    [warning] = warnings_of(caplog)
    assert "openai" in warning and "\n" not in warning
    entries = json.loads(cache_path().read_text())["entries"]
    assert entries["anthropic"] == good.to_json()  # another provider's entry survives
    assert entries["openai"]["fingerprint"] != 1 and len(entries["openai"]["models"]) == 3


def test_a_schema_1_file_is_migrated(openai, clock, caplog):
    seed = {"schema": 1, "providers": {
        "openai": {"fetched_at": clock(), "models": [{"id": "gpt-4o"}]},
        "anthropic": {"fetched_at": clock(), "models": [{"id": "claude"}]},
    }}
    write_raw(json.dumps(seed))
    catalog = new_catalog(clock)

    assert catalog.cache.file.read() == {}  # no fingerprint: nothing can be trusted
    listing = catalog.get_all_models(["openai"], settings=SETTINGS)

    assert names(listing) == OPENAI_MODELS  # fetched, not the seed's single model
    assert len(openai.requests_for("openai")) == 1
    [warning] = warnings_of(caplog)
    assert "schema 1" in warning and "\n" not in warning
    data = json.loads(cache_path().read_text())
    assert data["schema"] == 2
    assert set(data["entries"]) == {"openai"}  # the unverifiable anthropic list is dropped
    assert all(m["provider_id"] == "openai" for m in data["entries"]["openai"]["models"])
    assert not list(cache_path().parent.glob("*.corrupt-*"))


def test_entry_models_without_provider_id_take_it_from_the_entry(openai, clock, caplog):
    [access] = logged_in(("openai",))
    write_raw(json.dumps({"schema": 2, "entries": {"openai": {
        "fingerprint": access.fingerprint, "fetched_at": clock(),
        "models": [{"id": "gpt-4o", "context_length": 128000}, {"id": "o1"}]}}}))

    listing = new_catalog(clock).get_all_models(["openai"], settings=SETTINGS)

    assert names(listing) == ["openai/gpt-4o", "openai/o1"]
    assert listing.models[0].context_length == 128000
    assert openai.requests_for("openai") == []
    assert warnings_of(caplog) == []


def test_a_newer_schema_is_left_untouched(openai, clock, caplog):
    newer = json.dumps({"schema": 3, "lists": {"openai": {"models": ["x"]}}}).encode()
    write_raw(newer)
    catalog = new_catalog(clock)

    listing = catalog.get_all_models(["openai"], settings=SETTINGS)
    again = catalog.get_all_models(["openai"], settings=SETTINGS)

    assert names(listing) == names(again) == OPENAI_MODELS
    assert len(openai.requests_for("openai")) == 1  # kept in memory for this process
    assert cache_path().read_bytes() == newer
    [warning] = warnings_of(caplog)
    assert "newer" in warning and "schema 3" in warning and "\n" not in warning
    assert catalog.stats()["file"]["read_only"] is True
    assert catalog.clear_cache() == ["openai"]
    assert cache_path().read_bytes() == newer
    assert not list(cache_path().parent.glob("*.corrupt-*"))


def _unreadable_by_mode(monkeypatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    cache_path().chmod(0)


def _unreadable_by_error(monkeypatch) -> None:
    real = os.open

    def refuse(path, *args, **kwargs):
        if Path(path) == cache_path():
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)


@pytest.mark.parametrize("make_unreadable", [_unreadable_by_mode, _unreadable_by_error],
                         ids=["chmod-000", "permission-error"])
def test_an_unreadable_file_gives_one_warning_and_correct_results(
        openai, clock, caplog, monkeypatch, make_unreadable):
    write_raw(json.dumps({"schema": 2, "entries": {}}))
    make_unreadable(monkeypatch)
    catalog = new_catalog(clock)

    warning = one_warning_and_correct_results(catalog, openai, caplog)
    assert "cannot read" in warning and "\n" not in warning
    assert catalog.stats()["providers"][0]["id"] == "openai"


def test_a_folder_in_the_files_place_is_survived(openai, clock, caplog):
    cache_path().mkdir(parents=True)
    catalog = new_catalog(clock)

    listing = catalog.get_all_models(["openai"], settings=SETTINGS)
    again = catalog.get_all_models(["openai"], settings=SETTINGS)

    assert names(listing) == names(again) == OPENAI_MODELS
    assert len(openai.requests_for("openai")) == 1
    warnings = warnings_of(caplog)
    assert [w.split()[:2] for w in warnings] == [["cannot", "read"], ["cannot", "write"]]
    assert all("\n" not in w for w in warnings)  # two problems, one line each, said once
    assert cache_path().is_dir()


def test_a_failed_write_keeps_the_lists_in_memory(openai, clock, caplog, monkeypatch):
    import forge_ipy.cache

    def full_disk(path, text, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(forge_ipy.cache, "atomic_write", full_disk)
    catalog = new_catalog(clock)

    assert names(catalog.get_all_models(["openai"], settings=SETTINGS)) == OPENAI_MODELS
    assert names(catalog.get_all_models(["openai"], settings=SETTINGS)) == OPENAI_MODELS

    assert len(openai.requests_for("openai")) == 1
    [warning] = warnings_of(caplog)
    assert "cannot write" in warning and "No space" in warning


def test_a_reader_never_sets_aside_a_file_a_writer_just_replaced(monkeypatch):
    """Readers take no lock: a corrupt file seen by one may be replaced by a writer (which sets
    the corrupt one aside itself) before the reader acts; the good file must stay."""
    write_raw("not json")
    reader, writer = CacheFile(cache_path()), CacheFile(cache_path())
    import forge_ipy.cache

    real = forge_ipy.cache.read_json
    raced = []

    def racing(path, *args, **kwargs):
        try:
            return real(path, *args, **kwargs)
        finally:
            if path == cache_path() and not raced:
                raced.append(True)
                writer.write({"anthropic": entry("anthropic")})

    with monkeypatch.context() as patched:
        patched.setattr(forge_ipy.cache, "read_json", racing)
        assert reader.read() == {}

    assert raced
    assert set(CacheFile(cache_path()).read()) == {"anthropic"}
    assert len(list(cache_path().parent.glob("*.corrupt-*"))) == 1


# -- the memory cache over the file -------------------------------------------------------
def test_memory_entries_follow_the_file(clock):
    one, two = ModelCache(clock=clock), ModelCache(clock=clock)
    stored = one.put(entry("openai", fetched_at=10.0, model_ids=("a", "b")))
    assert stored.size_bytes() > 0
    assert one.get("openai", "f" * 32) is stored  # memory: the same object back

    two.sync()
    assert two.get("openai", "f" * 32).models == stored.models
    two.put(entry("anthropic", fetched_at=11.0))
    one.sync()
    assert set(one.entries()) == {"openai", "anthropic"}

    two.clear(["openai"])
    one.sync()
    assert set(one.entries()) == {"anthropic"}


def test_a_mismatched_fingerprint_is_dropped_here_and_on_disk(clock):
    cache = ModelCache(clock=clock)
    cache.put(entry("openai", fingerprint="a" * 32))
    cache.put(entry("anthropic"))

    assert cache.get("openai", "b" * 32) is None

    assert "openai" not in cache.entries()
    assert set(CacheFile(cache_path()).read()) == {"anthropic"}


def test_invalidating_an_old_key_keeps_a_newer_keys_entry_from_another_process(clock):
    mine, other = ModelCache(clock=clock), ModelCache(clock=clock)
    mine.put(entry("openai", fetched_at=1.0, fingerprint="a" * 32))
    other.put(entry("openai", fetched_at=2.0, fingerprint="b" * 32))  # new key, elsewhere

    mine.invalidate({"openai": "a" * 32})

    assert CacheFile(cache_path()).read()["openai"].fingerprint == "b" * 32


def test_the_newest_entry_wins_a_merge(clock):
    file = CacheFile(cache_path())
    file.write({"openai": entry("openai", fetched_at=5.0, model_ids=("new",))})
    file.write({"openai": entry("openai", fetched_at=4.0, model_ids=("old",))})
    assert [m.id for m in file.read()["openai"].models] == ["new"]


def test_stats_report_counters_entries_and_the_file(clock):
    cache = ModelCache(clock=clock)
    cache.put(entry("openai", fetched_at=clock() - 30, model_ids=("a", "b", "c")))
    cache.counters.hits += 2

    stats = cache.stats()

    assert stats["hits"] == 2 and stats["misses"] == 0
    assert stats["file"] == {"path": str(cache_path()), "bytes": cache_path().stat().st_size,
                             "read_only": False}
    [row] = stats["providers"]
    assert row["id"] == "openai" and row["models"] == 3
    assert row["age_seconds"] == pytest.approx(30, abs=0.1)
    assert row["bytes"] == len(json.dumps(json.loads(cache_path().read_text())
                                          ["entries"]["openai"]["models"],
                                          separators=(",", ":")))


# -- many real processes at once -----------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from forge_ipy.cache import CacheEntry, CacheFile, ModelCache
    from forge_ipy.domain import Model

    path, pid, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    cache = ModelCache(file=CacheFile(path))
    for i in range(1, rounds + 1):
        models = tuple(Model(provider_id=pid, id=f"{pid}-{j}") for j in range(i))
        cache.put(CacheEntry(pid, "f" * 32, float(i), models))
        cache.sync()
        assert pid in cache.entries(), "my own entry vanished"
""")


def test_many_processes_writing_at_once_keep_every_entry(tmp_path):
    path = cache_path()
    path.parent.mkdir(parents=True)
    providers = ["openai", "anthropic", "gemini", "groq", "mistral", "deepseek"]
    rounds = 25
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), pid, str(rounds)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for pid in providers]
    for writer in writers:
        assert writer.stdout.readline() == "ready\n"
    bad_reads: list[str] = []
    stop = threading.Event()

    def read_all_along() -> None:  # a reader never sees half a file
        while not stop.is_set():
            try:
                data = json.loads(path.read_bytes())
            except FileNotFoundError:
                continue
            except ValueError as exc:
                bad_reads.append(str(exc))
                continue
            if data.get("schema") != SCHEMA or not isinstance(data.get("entries"), dict):
                bad_reads.append(repr(data)[:200])

    reader = threading.Thread(target=read_all_along)
    reader.start()
    try:
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.close()
        outcomes = [(w.wait(timeout=120), w.stderr.read()) for w in writers]
    finally:
        stop.set()
        reader.join()
        for writer in writers:
            writer.stdout.close()
            writer.stderr.close()

    assert all(code == 0 for code, _ in outcomes), outcomes
    assert bad_reads == []
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert set(data["entries"]) == set(providers)
    entries = CacheFile(path).read()
    for pid in providers:
        assert entries[pid].fetched_at == rounds
        assert len(entries[pid].models) == rounds
    assert not list(path.parent.glob("*.corrupt-*"))
    assert not list(path.parent.glob(f".{FILE_NAME}.*.tmp"))


def test_many_cli_refreshes_at_once_keep_every_provider(loopback, serve):
    providers = ["openai", "anthropic", "gemini", "mistral"]
    for pid in providers:
        loopback.add(pid, latency=0.2)
    serve()
    env = dict(os.environ)

    refreshes = [subprocess.Popen([sys.executable, "-m", "forge_ipy", "cache", "refresh",
                                   "--provider", pid], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for pid in providers]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in refreshes]

    assert all(code == 0 for code, _, _ in outcomes), outcomes
    entries = json.loads(cache_path().read_text())["entries"]
    assert set(entries) == set(providers)
    assert all(len(loopback.requests_for(pid)) == 1 for pid in providers)
    catalog = Catalog()
    assert {p.id for p in catalog.cached().providers} == set(providers)


def test_counters_of_every_process_add_up_and_the_log_stays_small(clock):
    """Each process appends one line; damaged lines are skipped; a long log is folded."""
    cache = ModelCache(clock=clock)
    stats_path = cache.file.path.with_name(STATS_NAME)
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    row = json.dumps({"at": clock.now - 100, "hits": 2, "misses": 1}) + "\n"
    stats_path.write_text(row * 4000 + "not json\n")  # 4,000 earlier processes, one torn line
    cache.counters.hits = 5

    totals = cache.flush_counters()

    assert (totals["hits"], totals["misses"], totals["since"]) == (8005, 4000, clock.now - 100)
    assert len(stats_path.read_text().splitlines()) == 1  # folded: over 64 KiB
    assert cache.flush_counters()["hits"] == 8005  # nothing new: nothing counted twice


@pytest.mark.parametrize("fetched_at", ["1e300", "NaN", str(time.time() + 86400)])
def test_an_entry_from_the_future_is_dropped_and_refetched(openai, clock, caplog, fetched_at):
    """A clock that ran ahead (or a damaged number) must not pin a list forever."""
    new_catalog(clock).get_all_models(["openai"], settings=SETTINGS)
    text = cache_path().read_text()
    stored = json.loads(text)["entries"]["openai"]["fetched_at"]
    write_raw(text.replace(json.dumps(stored), fetched_at))

    listing = new_catalog(clock).get_all_models(["openai"], settings=SETTINGS)

    assert names(listing) == OPENAI_MODELS
    assert len(openai.requests_for("openai")) == 2  # refetched, not served from the future
    assert json.loads(cache_path().read_text())["entries"]["openai"]["fetched_at"] <= clock.now
    assert len(warnings_of(caplog)) == 1
