"""The package's public face: `forge_ipy.__all__`, its lazy imports, and the Python API
(`get_all_models`, `select`, `current`, `refresh`, `stats`) against the loopback server."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys

import pytest

import forge_ipy
from forge_ipy.domain import model_sort_key
from forge_ipy.settings import config_dir
from forge_ipy.testing import FakeModel, LoopbackProviders

PUBLIC = {
    "ForgeError": "forge_ipy.errors",
    "Model": "forge_ipy.domain",
    "ModelListing": "forge_ipy.domain",
    "Reply": "forge_ipy.chat.reply",
    "achat": "forge_ipy.chat.service",
    "chat": "forge_ipy.chat.service",
    "client": "forge_ipy.chat.sdk",
    "current": "forge_ipy.catalog",
    "get_all_models": "forge_ipy.catalog",
    "load_ipython_extension": "forge_ipy",
    "picker": "forge_ipy.ipython.widget",
    "refresh": "forge_ipy.catalog",
    "select": "forge_ipy.catalog",
    "stats": "forge_ipy.catalog",
    "unload_ipython_extension": "forge_ipy",
}
HEAVY = ("httpx", "pydantic", "IPython", "traitlets", "ipywidgets", "anywidget")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


# -- the names -------------------------------------------------------------------------
def test_all_lists_exactly_the_public_names():
    assert sorted(forge_ipy.__all__) == sorted(PUBLIC)
    assert len(set(forge_ipy.__all__)) == len(forge_ipy.__all__)
    assert set(forge_ipy.__all__) <= set(dir(forge_ipy))


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_name_resolves_to_its_home(name):
    value = getattr(forge_ipy, name)
    if name == "chat":  # the subpackage forge_ipy.chat, callable as its `chat` function
        assert value is importlib.import_module("forge_ipy.chat") and callable(value)
        value = value.chat
    assert value is getattr(importlib.import_module(PUBLIC[name]), name)


def test_star_import_gives_the_public_names():
    namespace: dict[str, object] = {}
    exec("from forge_ipy import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(PUBLIC)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        forge_ipy.nope  # noqa: B018
    assert not hasattr(forge_ipy, "Catalog")


def test_version_matches_the_installed_distribution():
    assert forge_ipy.__version__ == importlib.metadata.version("forge-ipy")


@pytest.mark.parametrize("touch, allowed", [
    ("", ()),
    ("forge_ipy.ForgeError", ()),  # the error tree is light too
    ("forge_ipy.get_all_models", ("pydantic",)),  # the service: no IPython, and no httpx
                                                   # until a request is made
])
def test_import_forge_ipy_alone_imports_nothing_heavy(touch, allowed):
    code = ("import sys, json; import forge_ipy; " + (f"{touch}; " if touch else "")
            + f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(run_python(code)) == list(allowed)


# -- the Python API --------------------------------------------------------------------
@pytest.fixture
def served(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    loopback.add("openai", [FakeModel("o3-mini"), FakeModel("gpt-4o"), FakeModel("shared")])
    loopback.add("deepseek", [FakeModel("shared"), FakeModel("deepseek-chat")])
    loopback.add("together")
    loopback.add("groq", failure="status:500")
    return serve()


def test_get_all_models_lists_every_logged_in_provider_sorted(served):
    listing = forge_ipy.get_all_models()
    assert isinstance(listing, forge_ipy.ModelListing)
    assert all(isinstance(m, forge_ipy.Model) for m in listing)
    assert list(listing) == sorted(listing, key=model_sort_key)
    # every kind of model, each saying what it is; `filter()` keeps what lists show
    assert [m.full_name for m in listing] == [
        "deepseek/deepseek-chat", "deepseek/shared", "openai/gpt-4o", "openai/o3-mini",
        "openai/shared", "together/BAAI/bge-large-en-v1.5",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    assert listing.models[5].kind == "embedding"
    assert "together/BAAI/bge-large-en-v1.5" not in [m.full_name for m in listing.filter()]
    statuses = {s.id: s for s in listing.providers}
    assert set(statuses) == {"openai", "deepseek", "together", "groq"}
    assert statuses["openai"].ok and statuses["openai"].model_count == 3
    assert not statuses["groq"].ok and statuses["groq"].error_kind == "http"
    turbo = listing.filter("turbo").models[0]
    assert (turbo.context_length, turbo.input_price, turbo.output_price) == (131072, 0.88, 0.88)


def test_get_all_models_limits_refreshes_and_takes_settings(served):
    listing = forge_ipy.get_all_models(["deepseek"])
    assert {m.provider_id for m in listing} == {"deepseek"}
    assert {r.provider_id for r in served.requests} == {"deepseek"}
    asked = len(served.requests)
    forge_ipy.get_all_models(["deepseek"])
    assert len(served.requests) == asked  # cached
    forge_ipy.get_all_models(["deepseek"], refresh=True)
    forge_ipy.get_all_models(["deepseek"], model_cache_strategy="fresh")
    forge_ipy.refresh(["deepseek"])
    assert len(served.requests) == asked + 3
    with pytest.raises(forge_ipy.ForgeError, match="aggressive, moderate, fresh"):
        forge_ipy.get_all_models(model_cache_strategy="sometimes")
    with pytest.raises(forge_ipy.ForgeError, match="unknown provider nope"):
        forge_ipy.get_all_models(["nope"])


def test_stats_counts_what_happened(served):
    forge_ipy.get_all_models()
    forge_ipy.get_all_models()
    stats = forge_ipy.stats()
    # misses: the four served providers and Ollama (keyless, probed at its closed default root)
    assert stats["misses"] == 5 and stats["hits"] == 3 and stats["errors"] == 1
    # Ollama's entry records that it was probed and is not running (no models).
    assert {p["id"] for p in stats["providers"]} == {"openai", "deepseek", "together", "ollama"}


def test_select_and_current(served):
    assert forge_ipy.current() is None
    change = forge_ipy.select("gpt-4o")
    assert change.message == "Switched to model: gpt-4o on provider: OpenAI"
    assert change.provider_switched
    change = forge_ipy.select("openai/o3-mini")
    assert change.message == "Switched to model: o3-mini" and not change.provider_switched
    change = forge_ipy.select("deepseek/shared")
    assert change.message == "Switched to model: shared on provider: DeepSeek"

    now = forge_ipy.current()
    assert (now.provider_id, now.model, now.full_name) == ("deepseek", "shared",
                                                           "deepseek/shared")
    assert now.api_root == served.root("deepseek")
    assert now.info is not None and now.info.full_name == "deepseek/shared"
    assert served.providers["deepseek"].key not in repr(now)
    saved = json.loads((config_dir() / "state.json").read_text())
    assert (saved["provider_id"], saved["model"]) == ("deepseek", "shared")


@pytest.mark.parametrize("name, matches", [
    ("shared", ("deepseek/shared", "openai/shared")),
    ("gpt4o", ("openai/gpt-4o",)),
])
def test_select_an_ambiguous_or_unknown_name_raises_with_close_matches(served, name, matches):
    with pytest.raises(forge_ipy.ForgeError) as raised:
        forge_ipy.select(name)
    assert set(matches) <= set(raised.value.matches)
    assert "\n" not in str(raised.value)
    assert forge_ipy.current() is None
