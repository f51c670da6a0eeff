"""The cache's rules live once (cache_rules): the full reader (cache.py, through the catalog)
and the completion fast path (complete.py, through the names index) agree on every entry."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from forge_ipy import cache_rules, complete
from forge_ipy.cache import CacheFile, ModelCache
from forge_ipy.catalog import Catalog

NOW = time.time()
IDS = ["gpt-4o", "o3"]


def raw_entry(current: str, **changes: object) -> dict:
    entry = {"provider_id": "openai", "fingerprint": current, "fetched_at": NOW - 5,
             "models": [{"provider_id": "openai", "id": i, "name": i} for i in IDS]}
    return {**entry, **changes}


# name -> (changes to a good entry, offered from the cache, a fetch is due)
CASES = {
    "valid": ({}, True, False),
    "expired": ({"fetched_at": NOW - 7200}, True, True),
    "from the future": ({"fetched_at": NOW + 86400}, False, True),
    "a little ahead (clock skew)": ({"fetched_at": NOW + 60}, True, False),
    "NaN": ({"fetched_at": math.nan}, False, True),
    "infinite": ({"fetched_at": math.inf}, False, True),
    "fetched_at as text": ({"fetched_at": str(NOW)}, False, True),
    "fetched_at true": ({"fetched_at": True}, False, True),
    "wrong fingerprint": ({"fingerprint": "0" * 32}, False, True),
    "fingerprint not text": ({"fingerprint": 12}, False, True),
    "no fingerprint": ({"fingerprint": None}, False, True),
    "models not a list": ({"models": "gpt-4o"}, False, True),
}
# Both readers also agree when a row is malformed, though only through the writer: the full
# reader drops such an entry, so the index never holds it.
WRITER_ONLY = {"a malformed model row": ({"models": [{"id": "gpt-4o"}, None]}, False, True)}


@pytest.fixture
def openai(loopback, serve):
    loopback.add("openai")
    return serve()


def folder() -> Path:
    return Path(os.environ["FORGE_IPY_CACHE_DIR"])


def write_models(entry: object) -> None:
    folder().mkdir(parents=True, exist_ok=True)
    (folder() / cache_rules.FILE_NAME).write_text(
        json.dumps({"schema": cache_rules.SCHEMA, "entries": {"openai": entry}}))


def write_index_as_is(entry: dict) -> None:
    """An index that holds the entry's frame untouched, as a writer with a clock far ahead
    or a damaged disk might leave it: the fast path's own checks must catch it."""
    row = (str(entry["fingerprint"]), entry["fetched_at"], [m["id"] for m in entry["models"]])
    stamp = os.stat(folder() / cache_rules.FILE_NAME)
    text = cache_rules.names_index((stamp.st_mtime_ns, stamp.st_size, stamp.st_ino),
                                   {"openai": row})
    (folder() / cache_rules.INDEX_NAME).write_text(text)


def full_reader(server) -> tuple[bool, bool]:
    """(offered from the cache, fetched) as a kernel or the CLI sees it."""
    offered = bool(Catalog(cache=ModelCache()).cached().models)
    before = len(server.requests_for("openai"))
    Catalog(cache=ModelCache()).get_all_models(settings={"model_cache_refresh": "block"})
    return offered, len(server.requests_for("openai")) > before


def fast_path(monkeypatch) -> tuple[bool, bool]:
    """(offered, a refresh spawned) as shell completion sees it."""
    spawned: list[int] = []
    monkeypatch.setattr(complete, "spawn_refresh", lambda: spawned.append(1) or 1)
    return bool(complete.complete_models("openai/")), bool(spawned)


def fingerprint() -> str:
    from forge_ipy.providers import registry

    return registry.resolve(registry.all_specs()["openai"]).fingerprint


# The index has a list of names by construction: that case can only come through the writer.
FRAME_CASES = {name: case for name, case in CASES.items() if name != "models not a list"}


@pytest.mark.parametrize("case", FRAME_CASES)
def test_fast_path_checks_the_same_rules(openai, monkeypatch, case):
    changes, offered, due = CASES[case]
    entry = raw_entry(fingerprint(), **changes)
    write_models(entry)
    write_index_as_is(entry)
    assert fast_path(monkeypatch) == (offered, due)


@pytest.mark.parametrize("case", {**CASES, **WRITER_ONLY})
def test_both_readers_agree(openai, monkeypatch, case):
    changes, offered, due = {**CASES, **WRITER_ONLY}[case]
    write_models(raw_entry(fingerprint(), **changes))
    CacheFile().write({})  # how an index comes to be: the cache's writer, after its checks
    seen_by_completion = fast_path(monkeypatch)
    write_models(raw_entry(fingerprint(), **changes))  # the writer dropped what it refused
    assert full_reader(openai) == (offered, due)
    assert seen_by_completion == (offered, due)


def test_an_entry_that_is_not_an_object(openai, monkeypatch):
    write_models("nonsense")
    CacheFile().write({})
    assert fast_path(monkeypatch) == (False, True)
    write_models("nonsense")
    assert full_reader(openai) == (False, True)


@pytest.mark.parametrize(("strategy", "age", "expired"), [
    ("moderate", 3599, False), ("moderate", 3601, True), ("fresh", 3601, True),
    ("aggressive", 10 ** 9, False),
])
def test_expiry_per_strategy(strategy, age, expired):
    assert cache_rules.is_expired(NOW - age, NOW, strategy, 3600.0) is expired


def test_the_rules_module_imports_nothing():
    source = Path(cache_rules.__file__).read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from __future__ import annotations"]


def test_completion_offers_what_a_listing_shows_by_default(loopback, serve, monkeypatch):
    """The provider does not say that an id embeds or draws; the model facts do, and the
    index written after a fetch follows them, as `forge-ipy models` does."""
    from forge_ipy.testing import FakeModel

    ids = ["gpt-4o", "text-embedding-3-small", "dall-e-3", "o3"]
    loopback.add("openai", models=[FakeModel(i) for i in ids])
    serve()
    monkeypatch.setenv("FORGE_MODEL_FACTS_URL", "off")
    listing = Catalog(cache=ModelCache()).get_all_models()
    shown = [m.full_name for m in listing if m.listed_by_default]
    assert shown == ["openai/gpt-4o", "openai/o3"]
    monkeypatch.setattr(complete, "spawn_refresh", lambda: 1)
    assert complete.complete_models("openai/") == shown
