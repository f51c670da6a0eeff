"""The catalog over the cache: every strategy on an injectable clock, one fetch per provider
however many callers, stale-on-failure, the retry window, invalidation on every credential
change, the file shared with other processes (real ones included), stats and cache logging.

Fetches go to the loopback server, whose request log proves hits (no new request), misses
and refreshes. No test sleeps for a TTL: the fake clock moves instead.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import forge_ipy.catalog
from forge_ipy import cli, credentials, facts
from forge_ipy.cache import FILE_NAME, ModelCache
from forge_ipy.catalog import RETRY_AFTER_SECONDS, Catalog
from forge_ipy.errors import SettingError
from forge_ipy.providers import registry
from forge_ipy.testing import FakeModel

TTL = 100.0
MODERATE = {"model_cache_strategy": "moderate", "model_cache_ttl_seconds": TTL,
            "model_cache_refresh": "background"}
BLOCK = {**MODERATE, "model_cache_refresh": "block"}
AGGRESSIVE = {**MODERATE, "model_cache_strategy": "aggressive"}
FRESH = {**MODERATE, "model_cache_strategy": "fresh"}
TWO = ("openai", "anthropic")


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    # Starts at the real time, so entries also look fresh to other processes on the real clock.
    return FakeClock(time.time())


def new_catalog(clock: FakeClock) -> Catalog:
    """A catalog with its own memory, as a new process (kernel, CLI) would have."""
    return Catalog(cache=ModelCache(clock=clock), clock=clock)


@pytest.fixture
def catalog(clock):
    catalog = new_catalog(clock)
    yield catalog
    catalog.wait_background(timeout=10)


@pytest.fixture
def two(loopback, serve):
    """openai and anthropic on the loopback server, keys and roots exported."""
    for pid in TWO:
        loopback.add(pid)
    return serve()


def cache_path() -> Path:
    return Path(os.environ["FORGE_IPY_CACHE_DIR"]) / FILE_NAME


def file_entries() -> dict:
    data = json.loads(cache_path().read_text(encoding="utf-8"))
    assert data["schema"] == 2
    return data["entries"]


def names(listing) -> list[str]:
    return [m.full_name for m in listing]


def counts(loopback, pids=TWO) -> dict[str, int]:
    return {pid: len(loopback.requests_for(pid)) for pid in pids}


# -- memory hits ---------------------------------------------------------------------------
def test_a_hit_is_the_same_listing_and_tuple_with_no_request(two, catalog):
    first = catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(two) == {"openai": 1, "anthropic": 1}
    assert names(first) == ["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5",
                            "openai/gpt-4o", "openai/gpt-4o-mini", "openai/o3-mini"]
    assert all(not p.from_cache and p.ok and not p.stale for p in first.providers)

    second = catalog.get_all_models(TWO, settings=MODERATE)
    third = catalog.get_all_models(TWO, settings=MODERATE)

    assert counts(two) == {"openai": 1, "anthropic": 1}
    assert third is second
    assert third.models is second.models
    assert names(second) == names(first)
    assert all(p.from_cache and p.ok and not p.stale for p in second.providers)
    # The listing holds each entry's models enriched once: the cached facts, not copies of
    # copies, so a hit hands out the very same Model objects.
    entry = catalog.cache.entries()["openai"]
    enriched = facts.enrich(entry.models, registry.all_specs()["openai"])
    assert [m for m in second.models if m.provider_id == "openai"] == list(enriched)
    assert all(a is b for a, b in zip(second.by_provider()["openai"],
                                      catalog.get_all_models(TWO, settings=MODERATE)
                                      .by_provider()["openai"], strict=True))


def test_every_refresh_is_stored(loopback, serve, catalog, clock):
    """Many refreshes in a row: each new list replaces the last (none taken for a repeat)."""
    provider = loopback.add("openai")
    serve()
    for i in range(30):
        provider.models = [FakeModel(f"m-{i}")]
        clock.advance(1)
        assert names(catalog.refresh(["openai"], settings=MODERATE)) == [f"openai/m-{i}"]
        assert names(catalog.get_all_models(["openai"], settings=MODERATE)) == [f"openai/m-{i}"]
    assert catalog.cache.counters.refreshes == 30
    assert file_entries()["openai"]["models"][0]["id"] == "m-29"


def test_progress_names_who_is_asked_first_then_fills_in(loopback, serve, catalog):
    """Frontends learn at once which providers are being asked, and a stopped local Ollama
    leaves the waiting list as soon as it is found not running, before a slow provider."""
    loopback.add("openai")
    loopback.add("anthropic", latency=0.5)
    serve()
    updates = []
    listing = catalog.start(on_update=lambda listing, waiting: updates.append(
        (names(listing), waiting))).result(timeout=30)

    assert updates[0] == ([], ("anthropic", "ollama", "openai"))
    assert updates[-1][1] == ()
    assert next(w for n, w in updates if "anthropic/claude-haiku-4-5" in n) == ()
    assert any("ollama" not in waiting and "anthropic" in waiting for _, waiting in updates)
    assert listing.status("ollama") is None  # not running: no error, nothing shown


def test_concurrent_callers_share_one_fetch_per_provider(loopback, serve, catalog):
    for pid in TWO:
        loopback.add(pid, latency=0.5)
    serve()
    callers = 8
    barrier = threading.Barrier(callers)
    results, errors = [], []

    def call() -> None:
        try:
            barrier.wait()
            results.append(catalog.get_all_models(TWO, settings=MODERATE))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert len(results) == callers
    assert counts(loopback) == {"openai": 1, "anthropic": 1}
    assert all(len(listing) == 5 for listing in results)
    assert catalog.cache.counters.refreshes == 2  # stored once per provider, not per caller


# -- strategies ------------------------------------------------------------------------------
def test_moderate_background_serves_stale_at_once_then_refreshes_once(
        loopback, serve, catalog, clock):
    for pid in TWO:
        loopback.add(pid, latency=0.3)
    serve()
    catalog.get_all_models(TWO, settings=MODERATE)
    clock.advance(TTL - 1)
    catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(loopback) == {"openai": 1, "anthropic": 1}  # within the TTL: hits

    loopback.providers["openai"].models = [FakeModel("gpt-5")]
    clock.advance(2)
    stale = [catalog.get_all_models(TWO, settings=MODERATE) for _ in range(5)]

    assert all("openai/gpt-4o" in names(listing) for listing in stale)  # the old list, at once
    assert all(p.stale and p.from_cache and p.ok for p in stale[0].providers)
    assert catalog.cache.counters.stale_serves == 10
    catalog.wait_background(timeout=10)
    assert counts(loopback) == {"openai": 2, "anthropic": 2}  # one refresh each, not five

    after = catalog.get_all_models(TWO, settings=MODERATE)
    assert "openai/gpt-5" in names(after)
    assert "openai/gpt-4o" not in names(after)
    assert not any(p.stale for p in after.providers)
    assert counts(loopback) == {"openai": 2, "anthropic": 2}
    assert file_entries()["openai"]["models"][0]["id"] == "gpt-5"


def test_moderate_block_waits_for_the_new_list(two, catalog, clock):
    catalog.get_all_models(TWO, settings=BLOCK)
    two.providers["openai"].models = [FakeModel("gpt-5")]
    clock.advance(TTL + 1)

    listing = catalog.get_all_models(TWO, settings=BLOCK)

    assert "openai/gpt-5" in names(listing)
    assert not any(p.stale or p.from_cache for p in listing.providers)
    assert counts(two) == {"openai": 2, "anthropic": 2}
    assert catalog.cache.counters.stale_serves == 0


def test_aggressive_never_expires(two, catalog, clock):
    first = catalog.get_all_models(TWO, settings=AGGRESSIVE)
    clock.advance(10 * 365 * 86400)

    later = catalog.get_all_models(TWO, settings=AGGRESSIVE)

    assert counts(two) == {"openai": 1, "anthropic": 1}
    assert names(later) == names(first)
    assert not any(p.stale for p in later.providers)


def test_fresh_always_fetches(two, catalog):
    for i in range(1, 4):
        listing = catalog.get_all_models(TWO, settings=FRESH)
        assert counts(two) == {"openai": i, "anthropic": i}
        assert not any(p.from_cache for p in listing.providers)


def test_fresh_falls_back_to_the_cached_list_when_the_provider_fails(two, catalog, clock):
    catalog.get_all_models(TWO, settings=FRESH)
    two.providers["openai"].failure = "status:500"
    clock.advance(5)

    listing = catalog.get_all_models(TWO, settings=FRESH)

    status = listing.status("openai")
    assert "openai/gpt-4o" in names(listing)
    assert (status.ok, status.stale, status.from_cache, status.error_kind) == \
        (False, True, True, "http")
    assert status.model_count == 3 and "500" in status.error
    assert status.age_seconds(clock()) == pytest.approx(5)
    assert listing.status("anthropic").ok


@pytest.mark.parametrize("config, env, argument, fetches", [
    (None, None, None, 1),  # default: moderate
    ("fresh", None, None, 2),
    ("fresh", "aggressive", None, 1),  # environment over config.toml
    ("aggressive", "fresh", None, 2),
    ("fresh", "fresh", "aggressive", 1),  # argument (or %config) over both
])
def test_settings_layers(two, catalog, monkeypatch, config, env, argument, fetches):
    if config:
        path = Path(os.environ["FORGE_IPY_CONFIG_DIR"]) / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'model_cache_strategy = "{config}"\n')
    if env:
        monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", env)
    settings = {"model_cache_strategy": argument} if argument else None

    catalog.get_all_models(TWO, settings=settings)
    catalog.get_all_models(TWO, settings=settings)

    assert counts(two) == {"openai": fetches, "anthropic": fetches}


@pytest.mark.parametrize("where", ["argument", "env", "config"])
def test_a_bad_setting_is_a_clear_error(two, catalog, monkeypatch, where):
    settings = None
    if where == "argument":
        settings = {"model_cache_refresh": "sometimes"}
    elif where == "env":
        monkeypatch.setenv("FORGE_MODEL_CACHE_REFRESH", "sometimes")
    else:
        path = Path(os.environ["FORGE_IPY_CONFIG_DIR"]) / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('model_cache_refresh = "sometimes"\n')

    with pytest.raises(SettingError, match=r"model_cache_refresh.*background, block") as raised:
        catalog.get_all_models(TWO, settings=settings)
    assert "sometimes" in str(raised.value)
    assert two.requests == []


# -- failures --------------------------------------------------------------------------------
@pytest.mark.parametrize("refresh", ["background", "block", "forced"])
def test_a_failed_refresh_keeps_the_good_list(two, catalog, clock, refresh):
    settings = BLOCK if refresh == "block" else MODERATE
    catalog.get_all_models(TWO, settings=settings)
    fetched_at = clock()
    two.providers["openai"].failure = "status:500"
    clock.advance(TTL + 1)

    if refresh == "forced":
        listing = catalog.refresh(TWO, settings=settings)
    else:
        catalog.get_all_models(TWO, settings=settings)
        catalog.wait_background(timeout=10)
        listing = catalog.get_all_models(TWO, settings=settings)

    status = listing.status("openai")
    assert (status.ok, status.stale, status.error_kind, status.model_count) == \
        (False, True, "http", 3)
    assert status.error and "500" in status.error
    assert status.fetched_at == fetched_at
    assert status.age_seconds(clock()) == pytest.approx(TTL + 1)
    assert [m.id for m in listing.by_provider()["openai"]] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert catalog.cache.counters.errors == 1
    assert file_entries()["openai"]["fetched_at"] == fetched_at  # the file keeps it too
    assert new_catalog(clock).cached(["openai"]).status("openai").model_count == 3


def test_a_failed_provider_waits_for_the_retry_window(two, catalog, clock):
    two.providers["openai"].failure = "status:503"
    listing = catalog.get_all_models(TWO, settings=MODERATE)
    status = listing.status("openai")
    assert (status.ok, status.model_count, status.error_kind) == (False, 0, "http")
    assert listing.status("anthropic").ok

    clock.advance(RETRY_AFTER_SECONDS - 1)
    again = catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(two) == {"openai": 1, "anthropic": 1}  # not asked again yet
    assert not again.status("openai").ok

    catalog.refresh(["openai"], settings=MODERATE)  # unless forced
    assert counts(two)["openai"] == 2

    two.providers["openai"].failure = None
    clock.advance(RETRY_AFTER_SECONDS - 1)
    assert not catalog.get_all_models(TWO, settings=MODERATE).status("openai").ok
    assert counts(two)["openai"] == 2
    clock.advance(2)  # the window of the forced attempt has passed
    recovered = catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(two)["openai"] == 3
    assert recovered.status("openai").ok and "openai/gpt-4o" in names(recovered)


# -- invalidation ---------------------------------------------------------------------------
def test_a_changed_key_invalidates_only_that_provider(two, catalog, clock, monkeypatch):
    catalog.get_all_models(TWO, settings=MODERATE)
    old = file_entries()
    new_key = "test-key-openai-rotated"
    two.providers["openai"].key = new_key
    two.providers["openai"].models = [FakeModel("gpt-5")]
    monkeypatch.setenv("OPENAI_API_KEY", new_key)

    listing = catalog.get_all_models(TWO, settings=MODERATE)

    assert names(listing.filter(providers=["openai"])) == ["openai/gpt-5"]
    assert listing.status("openai").ok and not listing.status("openai").from_cache
    assert counts(two) == {"openai": 2, "anthropic": 1}
    now = file_entries()
    assert now["openai"]["fingerprint"] != old["openai"]["fingerprint"]
    assert now["openai"]["fingerprint"] == credentials.fingerprint(new_key, two.root("openai"))
    assert now["anthropic"] == old["anthropic"]


def test_a_changed_api_root_invalidates_too(two, catalog, monkeypatch):
    catalog.get_all_models(TWO, settings=MODERATE)
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", two.root("openai") + "/")  # same root, spelled
    catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(two) == {"openai": 1, "anthropic": 1}

    two.add("openai-eu", wire="openai", key="test-key-openai")  # another gateway, same key
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", two.root("openai-eu"))
    catalog.get_all_models(TWO, settings=MODERATE)
    assert len(two.requests_for("openai-eu")) == 1
    assert counts(two) == {"openai": 1, "anthropic": 1}


def test_an_added_key_is_fetched_at_the_next_call(loopback, serve, catalog, monkeypatch):
    loopback.add("openai")
    loopback.add("anthropic")
    serve()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert names(catalog.get_all_models(TWO, settings=MODERATE)) == [
        "openai/gpt-4o", "openai/gpt-4o-mini", "openai/o3-mini"]

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-anthropic")
    listing = catalog.get_all_models(TWO, settings=MODERATE)

    assert len(listing) == 5
    assert counts(loopback) == {"openai": 1, "anthropic": 1}
    assert set(file_entries()) == set(TWO)


def test_removing_the_env_key_drops_that_provider_at_once(two, catalog, monkeypatch):
    catalog.get_all_models(TWO, settings=MODERATE)
    monkeypatch.delenv("OPENAI_API_KEY")

    listing = catalog.get_all_models(settings=MODERATE)  # every provider, as by default

    assert not any(m.provider_id == "openai" for m in listing)
    assert listing.status("openai") is None
    # (ollama, asked too, is kept as "not running" so it is not probed on every call)
    assert set(file_entries()) - {"ollama"} == {"anthropic"}
    assert "openai" not in catalog.cache.entries()
    assert counts(two) == {"openai": 1, "anthropic": 1}  # anthropic still cached
    assert catalog.cached().status("openai") is None


def test_login_and_logout_through_the_credential_store(loopback, serve, catalog, clock,
                                                       monkeypatch):
    """anthropic's key comes only from the store that `forge-ipy login` writes."""
    loopback.add("openai")
    anthropic = loopback.add("anthropic")
    serve()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    catalog.get_all_models(TWO, settings=MODERATE)
    assert set(file_entries()) == {"openai"}

    credentials.save_key("anthropic", "test-key-anthropic")  # login
    listing = catalog.get_all_models(TWO, settings=MODERATE)
    assert listing.status("anthropic").ok and len(listing) == 5
    assert counts(loopback) == {"openai": 1, "anthropic": 1}
    first_fingerprint = file_entries()["anthropic"]["fingerprint"]

    anthropic.key = "test-key-anthropic-2"
    credentials.save_key("anthropic", "test-key-anthropic-2")  # login again, another key
    catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(loopback) == {"openai": 1, "anthropic": 2}
    assert file_entries()["anthropic"]["fingerprint"] != first_fingerprint

    # Another process (the CLI) sees the same store and answers from the file.
    other = new_catalog(clock).get_all_models(TWO, settings=MODERATE)
    assert len(other) == 5
    assert counts(loopback) == {"openai": 1, "anthropic": 2}

    assert credentials.delete_key("anthropic")  # logout
    listing = catalog.get_all_models(settings=MODERATE)
    assert not any(m.provider_id == "anthropic" for m in listing)
    assert set(file_entries()) - {"ollama"} == {"openai"}  # ollama: probed, not running
    assert counts(loopback) == {"openai": 1, "anthropic": 2}


@pytest.mark.parametrize("asked", [TWO, ("openai",)], ids=["both", "only-it"])
def test_logout_drops_the_entry_at_a_call_for_that_provider(two, catalog, monkeypatch, asked):
    catalog.get_all_models(TWO, settings=MODERATE)
    monkeypatch.delenv("OPENAI_API_KEY")

    listing = catalog.get_all_models(asked, settings=MODERATE)

    assert not any(m.provider_id == "openai" for m in listing)
    assert set(file_entries()) == {"anthropic"}


def test_another_process_sees_an_invalidation(two, catalog, clock, monkeypatch):
    other = new_catalog(clock)
    catalog.get_all_models(TWO, settings=MODERATE)
    other.get_all_models(TWO, settings=MODERATE)  # from the file
    assert counts(two) == {"openai": 1, "anthropic": 1}

    monkeypatch.delenv("OPENAI_API_KEY")
    catalog.get_all_models(settings=MODERATE)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-openai")  # back, the same key

    listing = other.get_all_models(TWO, settings=MODERATE)
    assert len(listing) == 5
    assert counts(two) == {"openai": 2, "anthropic": 1}  # the cleared entry is not resurrected


# -- clearing ---------------------------------------------------------------------------------
def test_clear_cache_removes_only_that_provider(two, catalog):
    catalog.get_all_models(TWO, settings=MODERATE)

    assert catalog.clear_cache(["openai"]) == ["openai"]

    assert set(file_entries()) == {"anthropic"}
    catalog.get_all_models(TWO, settings=MODERATE)
    assert counts(two) == {"openai": 2, "anthropic": 1}
    with pytest.raises(SettingError, match="unknown provider nope"):
        catalog.clear_cache(["nope"])


def test_cli_cache_clear_and_models_refresh(two, catalog, capsys):
    catalog.get_all_models(TWO, settings=MODERATE)

    assert cli.main(["cache", "clear", "--provider", "openai"]) == 0
    assert "Cleared 1" in capsys.readouterr().out
    assert set(file_entries()) == {"anthropic"}
    catalog.get_all_models(TWO, settings=MODERATE)  # this "kernel" notices the file changed
    assert counts(two) == {"openai": 2, "anthropic": 1}

    assert cli.main(["models", "--refresh", "--json", "--provider", "openai",
                     "--provider", "anthropic"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert counts(two) == {"openai": 3, "anthropic": 2}
    assert {p["id"]: p["from_cache"] for p in out["providers"]} == \
        {"openai": False, "anthropic": False}

    assert cli.main(["cache", "clear"]) == 0
    assert file_entries() == {}


# -- the file shared with other processes --------------------------------------------------
def test_a_new_process_answers_from_the_file(two, catalog, clock):
    first = catalog.get_all_models(TWO, settings=MODERATE)

    other = new_catalog(clock)
    listing = other.get_all_models(TWO, settings=MODERATE)

    assert counts(two) == {"openai": 1, "anthropic": 1}
    assert names(listing) == names(first)
    assert all(p.from_cache and not p.stale for p in listing.providers)
    assert other.cache.counters.hits == 2 and other.cache.counters.misses == 0


def test_the_cli_in_a_real_process_answers_from_the_file(loopback, serve, catalog):
    for pid in (*TWO, "ollama"):
        loopback.add(pid)
    serve()
    catalog.get_all_models(settings=MODERATE)
    before = len(loopback.requests)
    assert before == 3

    done = subprocess.run([sys.executable, "-m", "forge_ipy", "models", "--json"],
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(loopback.requests) == before
    assert {p["id"] for p in out["providers"]} == {"openai", "anthropic", "ollama"}
    assert all(p["from_cache"] and p["ok"] for p in out["providers"])
    assert len(out["models"]) == 7


def test_the_cli_finishes_its_background_refresh_before_exiting(loopback, serve, catalog, clock):
    loopback.add("openai", latency=0.3)
    serve()
    clock.advance(-2 * 3600)  # fetched two hours ago, as the CLI's real clock sees it
    catalog.get_all_models(["openai"], settings=MODERATE)
    stale_at = file_entries()["openai"]["fetched_at"]
    loopback.providers["openai"].models = [FakeModel("gpt-5")]

    done = subprocess.run([sys.executable, "-m", "forge_ipy", "models", "--json"],
                          env={**os.environ, "FORGE_MODEL_CACHE_REFRESH": "background"},
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [m["id"] for m in out["models"]] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]  # stale
    assert out["providers"][0]["from_cache"]
    assert len(loopback.requests_for("openai")) == 2
    entry = file_entries()["openai"]
    assert entry["fetched_at"] > stale_at  # the refresh landed before the process exited
    assert [m["id"] for m in entry["models"]] == ["gpt-5"]


# -- stats and logging ----------------------------------------------------------------------
STAT_KEYS = {"hits", "misses", "stale_serves", "refreshes", "errors", "file", "providers"}


def test_stats_count_every_kind_of_answer(two, catalog, clock):
    catalog.get_all_models(TWO, settings=MODERATE)  # 2 misses, 2 refreshes
    catalog.get_all_models(TWO, settings=MODERATE)  # 2 hits
    clock.advance(TTL + 1)
    two.providers["openai"].failure = "status:500"
    catalog.get_all_models(TWO, settings=MODERATE)  # 2 stale serves, 1 refresh, 1 error
    catalog.wait_background(timeout=10)
    clock.advance(10)

    stats = catalog.stats()

    assert set(stats) >= STAT_KEYS
    assert {k: stats[k] for k in ("hits", "misses", "stale_serves", "refreshes", "errors")} == \
        {"hits": 2, "misses": 2, "stale_serves": 2, "refreshes": 3, "errors": 1}
    assert stats["file"]["path"] == str(cache_path())
    assert stats["file"]["bytes"] == cache_path().stat().st_size
    rows = {p["id"]: p for p in stats["providers"]}
    assert set(rows) == set(TWO)
    assert rows["openai"]["models"] == 3 and rows["anthropic"]["models"] == 2
    assert rows["openai"]["age_seconds"] == pytest.approx(TTL + 11)
    assert rows["anthropic"]["age_seconds"] == pytest.approx(10)
    assert all(p["bytes"] > 0 for p in rows.values())


@pytest.mark.parametrize("source", ["cli", "python"])
def test_stats_from_the_cli_and_the_package(two, catalog, capsys, source):
    catalog.get_all_models(TWO, settings=MODERATE)

    if source == "cli":
        assert cli.main(["cache", "stats", "--json"]) == 0
        stats = json.loads(capsys.readouterr().out)
    else:
        stats = forge_ipy.catalog.stats()

    assert set(stats) >= STAT_KEYS
    assert stats["file"] == {"path": str(cache_path()), "bytes": cache_path().stat().st_size,
                             "read_only": False}
    assert {p["id"]: p["models"] for p in stats["providers"]} == {"openai": 3, "anthropic": 2}
    assert all({"age_seconds", "bytes"} <= set(p) for p in stats["providers"])


def test_cli_cache_stats_prints_a_table(two, catalog, capsys):
    catalog.get_all_models(TWO, settings=MODERATE)
    assert cli.main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert str(cache_path()) in out and "hits" in out and "openai" in out


def test_hits_and_misses_are_logged_at_debug(two, catalog, caplog):
    caplog.set_level(logging.DEBUG, logger="forge_ipy")
    catalog.get_all_models(["openai"], settings=MODERATE)
    catalog.get_all_models(["openai"], settings=MODERATE)

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "forge_ipy"]
    assert (logging.DEBUG, "cache miss: openai") in lines
    assert (logging.DEBUG, "cache hit: openai") in lines
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_stopped_local_ollama_is_remembered_and_probed_again_later(two, catalog, clock):
    """Ollama at its default root, not running: no error, no status, and no probe on every
    call; it is asked again in the background after ABSENT_RECHECK_SECONDS."""
    from forge_ipy.catalog import ABSENT_RECHECK_SECONDS

    listing = catalog.get_all_models(settings=MODERATE)
    assert listing.status("ollama") is None and listing.status("openai").ok
    probed_at = catalog.cache.entries()["ollama"].fetched_at

    clock.advance(ABSENT_RECHECK_SECONDS - 1)
    catalog.get_all_models(settings=MODERATE)
    catalog.wait_background(timeout=10)
    assert catalog.cache.entries()["ollama"].fetched_at == probed_at

    clock.advance(2)
    assert catalog.get_all_models(settings=MODERATE).status("ollama") is None
    catalog.wait_background(timeout=10)
    assert catalog.cache.entries()["ollama"].fetched_at == clock.now


def test_a_listing_fetches_the_live_catalog_of_facts_behind_it(loopback, serve, catalog,
                                                              monkeypatch):
    """The catalog of model facts is fetched behind a listing, never before it: the first
    listing is served with the snapshot's facts, the next one with the live catalog's."""
    from forge_ipy.testing import add_document, document_url, models_dev_document

    loopback.add("openai", [FakeModel("my-private-model")])
    # The catalog answers slowly: a listing served from the cache must not wait for it.
    add_document(loopback, "facts", models_dev_document(
        {"openai": {"my-private-model": {"limit": {"context": 777_000, "output": 7}}}}),
        latency=1.0)
    serve()
    catalog.get_all_models(["openai"], settings=MODERATE)  # facts off: the list is cached
    monkeypatch.setenv("FORGE_MODEL_FACTS_URL", document_url(loopback, "facts"))

    first = catalog.get_all_models(["openai"], settings=MODERATE)
    assert first.models[0].context_length is None  # the snapshot knows no such model
    catalog.wait_background(timeout=10)

    second = catalog.get_all_models(["openai"], settings=MODERATE)
    assert second.models[0].context_length == 777_000
    assert "catalog" in second.models[0].facts_from
    assert len(loopback.requests_for("facts")) == 1
    assert counts_of(loopback, "openai") == 1  # the provider itself was asked once


def counts_of(loopback, provider_id: str) -> int:
    return len(loopback.requests_for(provider_id))


def test_a_provider_prefixed_name_never_falls_back_to_another_providers_id(loopback, serve,
                                                                         catalog):
    """`openai/gpt-4o` while OpenAI's list failed is that failure, not OpenRouter's model
    whose id reads `openai/gpt-4o`; that one is `openrouter/openai/gpt-4o`."""
    from forge_ipy.errors import SelectionError

    loopback.add("openai", [FakeModel("gpt-4o")], failure="status:500")
    loopback.add("openrouter", [FakeModel("openai/gpt-4o")])
    serve()

    with pytest.raises(SelectionError, match="openai failed"):
        catalog.resolve_name("openai/gpt-4o", settings=MODERATE)
    assert catalog.resolve_name("openrouter/openai/gpt-4o",
                                settings=MODERATE).provider_id == "openrouter"
