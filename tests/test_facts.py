"""The catalog of model facts: the snapshot builder, matching, enrich's precedence, and the
live catalog against the loopback server (fresh, stale, failing, hostile, off)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forge_ipy import facts
from forge_ipy.domain import MODEL_KINDS, Model
from forge_ipy.factindex import (
    FactIndex,
    alias_key,
    compact_api_document,
    dump_compact,
    facts_from_api,
    read_compact,
)
from forge_ipy.facts import ModelFacts
from forge_ipy.loop import background_loop
from forge_ipy.providers.registry import BUILTINS, ProviderSpec
from forge_ipy.testing import add_document, document_url, models_dev_document

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "update-model-facts"
SPECS = {spec.id: spec for spec in BUILTINS}
GATEWAY = ProviderSpec("gateway", "Company gateway", "openai", "http://127.0.0.1:9/v1")
DAY = 24 * 3600.0


def _script():
    loader = importlib.machinery.SourceFileLoader("update_model_facts", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def _write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


# -- the snapshot builder ------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path) -> Path:
    """A models.dev checkout in miniature: a base model, a provider model inheriting it with
    overrides and an omit, an OpenRouter `vendor/model` id, a TTS model, an unmapped provider."""
    root = tmp_path / "models.dev"
    _write(root, "models/openai/gpt-9.toml", """
name = "GPT-9"
family = "gpt"
release_date = "2026-01-02"
last_updated = "2026-01-02"
knowledge = "2025-06"
reasoning = true
tool_call = true
license = "proprietary"
[limit]
context = 400_000
input = 272_000
output = 128_000
[modalities]
input = ["text", "image"]
output = ["text"]
""")
    _write(root, "providers/openai/provider.toml", 'name = "OpenAI"\n')
    _write(root, "providers/openai/models/gpt-9.toml", """
base_model = "openai/gpt-9"
base_model_omit = ["limit.input"]
[cost]
input = 1.25
output = 10.0
cache_read = 0.125
[limit]
context = 200_000
""")
    _write(root, "providers/openai/models/gpt-9-tts.toml", """
name = "GPT-9 TTS"
release_date = "2026-02"
last_updated = "2026-02"
attachment = false
reasoning = false
tool_call = false
open_weights = false
[cost]
input = 0.6
output = 12
[limit]
context = 2_000
output = 2_000
[modalities]
input = ["text"]
output = ["audio"]
""")
    _write(root, "providers/openrouter/models/openai/gpt-9.toml", """
base_model = "openai/gpt-9"
status = "deprecated"
[cost]
input = 1.5
output = 12
""")
    _write(root, "providers/someone-else/models/gpt-9.toml", 'base_model = "openai/gpt-9"\n')
    return root


def test_builder_resolves_base_model_and_keeps_only_mapped_providers(tree, tmp_path, capsys):
    out = tmp_path / "model_facts.json"
    assert _script().main([str(tree), "--output", str(out), "--source", "test"]) == 0

    data = json.loads(out.read_text())
    assert data["source"] == "test"
    providers = read_compact(data)
    assert set(providers) == {"openai", "openrouter"}
    assert providers["openai"]["gpt-9"] == {
        "context_length": 200_000,  # the provider's table deep-merged over the base's
        "max_output_tokens": 128_000,  # inherited from the base
        "input_price": 1.25, "output_price": 10.0, "cache_read_price": 0.125,
        "tools": True, "reasoning": True, "knowledge": "2025-06", "release_date": "2026-01-02",
        "input_modalities": ("text", "image"), "output_modalities": ("text",),
    }
    assert providers["openai"]["gpt-9-tts"]["kind"] == "audio"
    routed = providers["openrouter"]["openai/gpt-9"]
    assert (routed["status"], routed["input_price"], routed["context_length"]) == (
        "deprecated", 1.5, 400_000)
    assert "3 models of 2 providers" in capsys.readouterr().out


def test_builder_applies_base_model_omit(tree, tmp_path):
    _write(tree, "providers/openai/models/gpt-9.toml",
           'base_model = "openai/gpt-9"\nbase_model_omit = ["limit.output", "knowledge"]\n')
    out = tmp_path / "facts.json"
    _script().main([str(tree), "--output", str(out)])
    gpt9 = read_compact(json.loads(out.read_text()))["openai"]["gpt-9"]
    assert "max_output_tokens" not in gpt9 and "knowledge" not in gpt9
    assert gpt9["context_length"] == 400_000


def test_builder_names_a_missing_base_model(tree, tmp_path):
    _write(tree, "providers/openai/models/gpt-10.toml", 'base_model = "openai/gpt-10"\n')
    with pytest.raises(SystemExit, match=r"gpt-10.*not in models/"):
        _script().main([str(tree), "--output", str(tmp_path / "x.json")])


def test_builder_refuses_a_folder_that_is_not_models_dev(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main([str(tmp_path)])
    assert "no providers/ folder" in capsys.readouterr().err


def test_bundled_snapshot_is_small_complete_and_executable_to_rebuild():
    snapshot = facts.SNAPSHOT_PATH
    assert snapshot.stat().st_size < 1024 * 1024
    providers = read_compact(json.loads(snapshot.read_text()))
    # Read as it is at run time: so it must hold nothing the checks would drop.
    assert read_compact(json.loads(snapshot.read_text()), trusted=True) == providers
    assert {"openai", "anthropic", "google", "mistral", "groq", "xai", "deepseek",
            "togetherai", "fireworks-ai", "openrouter"} <= set(providers)
    assert providers["openai"]["gpt-4o"]["context_length"] == 128_000
    assert os.access(SCRIPT, os.X_OK)


# -- matching ------------------------------------------------------------------------------
INDEX = FactIndex({
    "anthropic": {"claude-sonnet-4-5": {"input_price": 3.0},
                  "claude-sonnet-4-5-20250929": {"input_price": 3.0, "release_date": "2025-09-29"},
                  "claude-3-5-haiku-20241022": {"input_price": 0.8}},
    "openai": {"gpt-4o": {"context_length": 128_000},
               "text-embedding-3-small": {"kind": "embedding"}},
    "google": {"gemini-2.0-flash": {"context_length": 1_048_576}},
    "togetherai": {"meta-llama/Llama-3.3-70B-Instruct-Turbo": {"tools": True}},
    "fireworks-ai": {"accounts/fireworks/models/kimi-k2": {"tools": True}},
    "openrouter": {"openai/gpt-4o": {"context_length": 128_000, "tools": True}},
    "groq": {"whisper-large-v3": {"kind": "audio"}},
})


@pytest.mark.parametrize("provider_id, model_id, expected", [
    ("anthropic", "claude-sonnet-4-5-20250929", {"input_price": 3.0,
                                                 "release_date": "2025-09-29"}),
    ("anthropic", "claude-sonnet-4-5", {"input_price": 3.0}),  # undated alias, listed
    ("anthropic", "claude-sonnet-4-5-20260101", {"input_price": 3.0}),  # a newer snapshot
    ("anthropic", "claude-3-5-haiku-latest", {"input_price": 0.8}),  # the dated one serves
    ("openai", "gpt-4o-2024-08-06", {"context_length": 128_000}),
    ("gemini", "gemini-2.0-flash-001", {"context_length": 1_048_576}),  # gemini -> google
    ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", {"tools": True}),
    ("fireworks", "accounts/fireworks/models/kimi-k2", {"tools": True}),
    ("openrouter", "openai/gpt-4o", {"context_length": 128_000, "tools": True}),
    ("openrouter", "gpt-4o", None),  # not another provider's facts
    ("openai", "claude-sonnet-4-5", None),
    ("openai", "gpt-5", None),
])
def test_matching_maps_providers_dates_and_aliases(provider_id, model_id, expected):
    assert INDEX.lookup_for(provider_id, builtin=True)(model_id) == expected


def test_custom_gateway_borrows_facts_only_on_an_exact_id():
    lookup = INDEX.lookup_for("gateway", builtin=False)
    assert lookup("gpt-4o") == {"context_length": 128_000}
    assert lookup("claude-sonnet-4-5") == {"input_price": 3.0}
    assert lookup("openai/gpt-4o") == {"context_length": 128_000, "tools": True}
    assert lookup("gpt-4o-2024-08-06") is None  # no alias for a gateway's own names
    assert lookup("GPT-4o") is None


@pytest.mark.parametrize("model_id, key", [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"), ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4-0613", "gpt-4"), ("mistral-large-2411", "mistral-large"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet"),
    ("claude-opus-4-5@20251101", "claude-opus-4-5"), ("llama3.2:latest", "llama3.2"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"), ("deepseek-v3", "deepseek-v3"),
    ("o3-mini", "o3-mini"), ("qwen2.5-coder:7b", "qwen2.5-coder:7b"),
])
def test_alias_key(model_id, key):
    assert alias_key(model_id) == key


# -- enrich --------------------------------------------------------------------------------
def test_provider_wins_field_by_field_and_the_catalog_fills_the_rest():
    index = FactIndex({"anthropic": {"claude-x": {
        "context_length": 1, "max_output_tokens": 64_000, "input_price": 3.0, "tools": True,
        "output_modalities": ("text",), "knowledge": "2025-03"}}})
    given = Model(provider_id="anthropic", id="claude-x", context_length=200_000, tools=False)

    (model,) = facts.enrich_with(index, [given], SPECS["anthropic"])

    assert (model.context_length, model.tools) == (200_000, False)  # the provider's
    assert (model.max_output_tokens, model.input_price, model.knowledge) == (
        64_000, 3.0, "2025-03")
    assert model.output_modalities == ("text",)
    assert model.kind == "chat" and model.facts_from == ("provider", "catalog")


def test_facts_from_keeps_the_gateway_and_says_nothing_when_no_one_said_anything():
    index = FactIndex({"openai": {"gpt-4o": {"input_price": 2.5}}})
    from_gateway = Model(provider_id="gateway", id="gpt-4o", context_length=8,
                         facts_from=("gateway",))
    bare = Model(provider_id="openai", id="my-fine-tune")

    (gateway_model,) = facts.enrich_with(index, [from_gateway], GATEWAY)
    (bare_model,) = facts.enrich_with(index, [bare], SPECS["openai"])

    assert gateway_model.facts_from == ("gateway", "catalog")
    assert gateway_model.input_price == 2.5
    assert (bare_model.facts_from, bare_model.kind) == ((), "chat")


@pytest.mark.parametrize("given_kind, catalog, model_id, kind", [
    ("embedding", {"kind": "audio"}, "gpt-x", "embedding"),  # the provider's signal first
    (None, {"kind": "audio"}, "gpt-x", "audio"),  # then the catalog's facts
    (None, {"context_length": 8}, "text-embedding-9", "embedding"),  # then the id rules
    (None, None, "tts-9", "audio"),
    (None, None, "my-model", "chat"),  # erring towards showing it
])
def test_kind_precedence(given_kind, catalog, model_id, kind):
    index = FactIndex({"openai": {model_id: catalog}} if catalog else {})
    given = Model(provider_id="openai", id=model_id, kind=given_kind)
    (model,) = facts.enrich_with(index, [given], SPECS["openai"])
    assert model.kind == kind


def test_enrich_decides_every_kind_and_leaves_a_complete_model_as_it_is():
    complete = Model(provider_id="openai", id="o9", kind="chat", context_length=1,
                     facts_from=("provider",))
    models = [complete] + [Model(provider_id="openai", id=i) for i in
                           ("gpt-4o", "dall-e-3", "whisper-1", "babbage-002", "x")]
    enriched = facts.enrich_with(facts.model_facts().snapshot(), models, SPECS["openai"])
    assert enriched[0] is complete
    assert all(m.kind in MODEL_KINDS for m in enriched)
    assert [m.kind for m in enriched[1:]] == ["chat", "image", "audio", "completion", "chat"]
    assert enriched[1].context_length == 128_000 and enriched[1].facts_from == ("catalog",)


def test_module_enrich_uses_the_bundled_snapshot_by_default():
    (model,) = facts.enrich([Model(provider_id="gemini", id="gemini-2.5-pro")], SPECS["gemini"])
    assert model.context_length and model.input_price and model.facts_from == ("catalog",)


# -- the live catalog ----------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


SNAPSHOT_FACTS = {"openai": {"gpt-4o": {"context_length": 1}}}
LIVE_DOCUMENT = models_dev_document({
    "openai": {"gpt-4o": {"limit": {"context": 128_000, "output": 16_384},
                          "cost": {"input": 2.5, "output": 10}, "tool_call": True,
                          "family": "gpt", "modalities": {"input": ["text"],
                                                          "output": ["text"]}}},
    "lmstudio": {"anything": {"limit": {"context": 5}}},  # a provider we do not map
})


@pytest.fixture
def make_facts(tmp_path):
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(dump_compact(SNAPSHOT_FACTS))
    clock = Clock()

    def make(**options) -> ModelFacts:
        options = {"cache_path": tmp_path / "cache" / facts.FILE_NAME,
                   "snapshot_path": snapshot, "loop": background_loop(), "clock": clock, **options}
        return ModelFacts(**options)

    make.clock = clock
    return make


def _context(model_facts: ModelFacts) -> int | None:
    (model,) = model_facts.enrich([Model(provider_id="openai", id="gpt-4o")], SPECS["openai"])
    return model.context_length


def test_live_catalog_is_fetched_cached_and_supersedes_the_snapshot(loopback, make_facts,
                                                                    tmp_path):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    url = document_url(loopback, "facts")
    first = make_facts()
    assert _context(first) == 1  # the snapshot, before anything was fetched
    generation = first.generation

    first.refresh_in_background(url).result(timeout=10)

    assert _context(first) == 128_000 and first.generation != generation
    cached = json.loads((tmp_path / "cache" / facts.FILE_NAME).read_text())
    assert cached["url"] == url and cached["fetched_at"] == make_facts.clock.now
    assert set(cached["providers"]) == {"openai"}
    # A new process takes the cached catalog, for its cached lists too, without fetching.
    second = make_facts()
    assert second.refresh_in_background(url) is None
    assert _context(second) == 128_000
    assert len(loopback.requests_for("facts")) == 1


def test_fresh_catalog_is_not_fetched_again_within_a_day(loopback, make_facts):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    url = document_url(loopback, "facts")
    model_facts = make_facts()
    model_facts.refresh_in_background(url).result(timeout=10)
    make_facts.clock.now += DAY - 60
    assert model_facts.refresh_in_background(url) is None
    assert len(loopback.requests_for("facts")) == 1


def test_stale_catalog_serves_while_a_new_one_is_fetched_behind_it(loopback, make_facts):
    document = add_document(loopback, "facts", LIVE_DOCUMENT)
    url = document_url(loopback, "facts")
    model_facts = make_facts()
    model_facts.refresh_in_background(url).result(timeout=10)
    newer = json.loads(json.dumps(LIVE_DOCUMENT))
    newer["openai"]["models"]["gpt-4o"]["limit"]["context"] = 256_000
    document.document, document.latency = newer, 0.5
    make_facts.clock.now += DAY + 1

    pending = model_facts.refresh_in_background(url)

    assert pending is not None and not pending.done()  # the caller did not wait for it
    assert _context(model_facts) == 128_000  # the stale catalog serves meanwhile
    assert model_facts.refresh_in_background(url) is None  # one fetch at a time
    pending.result(timeout=10)
    assert _context(model_facts) == 256_000
    assert len(loopback.requests_for("facts")) == 2


@pytest.mark.parametrize("failure, says", [
    ("status:500", "HTTP 500"), ("html", "damaged"), ("redirect", "not followed"),
    ("reset", "cannot reach"),
])
def test_failing_catalog_warns_once_and_the_snapshot_keeps_serving(loopback, make_facts,
                                                                   caplog, failure, says):
    add_document(loopback, "facts", LIVE_DOCUMENT, failure=failure)
    url = document_url(loopback, "facts")
    model_facts = make_facts()
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        model_facts.refresh_in_background(url).result(timeout=10)
        make_facts.clock.now += 60
        assert model_facts.refresh_in_background(url) is None  # not again at once
    assert _context(model_facts) == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and says in warnings[0] and "model facts" in warnings[0]
    assert len(loopback.requests_for("facts")) == 1
    assert not loopback.sink_requests  # a redirect is never followed
    make_facts.clock.now += facts.RETRY_SECONDS
    assert model_facts.refresh_in_background(url) is not None  # tried again an hour later


def test_a_hanging_catalog_is_given_up_after_the_time_limit(loopback, make_facts, caplog):
    add_document(loopback, "facts", LIVE_DOCUMENT, failure="hang", hang_seconds=5)
    model_facts = make_facts(timeout=0.2)
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        model_facts.refresh_in_background(document_url(loopback, "facts")).result(timeout=10)
    assert "no answer within 0.2 s" in caplog.text
    assert _context(model_facts) == 1


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("body, says", [
    (b"not json at all", "damaged"),
    (b'{"openai": {"models": {"gpt-4o": {"limit": {"context": NaN}}}}}', "NaN"),
    (b'{"openai": {"models": {"gpt-4o": {"limit": {"context": 1' + b"0" * 5000 + b"}}}}}",
     "damaged"),
    (_deep(100_000), "damaged"),
    (b"[1, 2, 3]", "not a JSON object"),
    (json.dumps({"openai": []}).encode(), "none of the providers"),
    (json.dumps({"openai": {"models": {"gpt-4o": {
        "limit": {"context": "huge", "output": -5}, "cost": {"input": 1e300 * 10},
        "tool_call": "yes", "knowledge": "\x1b[31mred", "modalities": {"output": "text"},
    }}}}).encode(), "none of the providers"),
])
def test_hostile_catalog_is_survived(loopback, make_facts, caplog, body, says):
    add_document(loopback, "facts", body)
    model_facts = make_facts()
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        model_facts.refresh_in_background(document_url(loopback, "facts")).result(timeout=10)
    assert says in caplog.text
    assert _context(model_facts) == 1


def test_huge_catalog_is_cut_off_at_the_cap(loopback, make_facts, caplog):
    add_document(loopback, "facts", LIVE_DOCUMENT, failure="huge", huge_bytes=4 * 1024 * 1024)
    model_facts = make_facts(max_body_bytes=256 * 1024)
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        model_facts.refresh_in_background(document_url(loopback, "facts")).result(timeout=10)
    assert "cap" in caplog.text and _context(model_facts) == 1


def test_wrong_fields_cost_only_themselves():
    document = {"openai": {"models": {
        "good": {"limit": {"context": 8_000, "output": 10 ** 40}, "cost": {"input": float("inf")},
                 "tool_call": True, "release_date": "2025-01-01", "status": "alpha"},
        "bad": "not a model", 7: {"limit": {"context": 5}},
    }}}
    assert compact_api_document(document) == {"openai": {"good": {
        "context_length": 8_000, "tools": True, "release_date": "2025-01-01"}}}
    assert facts_from_api({"knowledge": "2024-13-01-extra"}) == {}


def test_off_never_fetches_and_serves_the_snapshot(loopback, make_facts):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    url = document_url(loopback, "facts")
    model_facts = make_facts()
    model_facts.refresh_in_background(url).result(timeout=10)
    assert _context(model_facts) == 128_000
    generation = model_facts.generation

    make_facts.clock.now += 10 * DAY
    assert model_facts.refresh_in_background(facts.OFF) is None
    assert make_facts().refresh_in_background(facts.OFF) is None

    assert _context(model_facts) == 1 and model_facts.generation != generation
    assert len(loopback.requests_for("facts")) == 1


def test_module_refresh_follows_the_setting(monkeypatch, loopback):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    assert facts.refresh_in_background() is None  # the test suite's setting: off
    assert not loopback.requests


def test_damaged_cache_file_warns_once_and_is_fetched_again(loopback, make_facts, tmp_path,
                                                           caplog):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    path = tmp_path / "cache" / facts.FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"schema": 1, "providers": {"openai": [')
    model_facts = make_facts()
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        pending = model_facts.refresh_in_background(document_url(loopback, "facts"))
        assert _context(model_facts) == 1
        pending.result(timeout=10)
    assert len(caplog.records) == 1 and "unusable" in caplog.text
    assert _context(model_facts) == 128_000
    assert read_compact(json.loads(path.read_text()))["openai"]["gpt-4o"]["context_length"]


def test_a_named_pipe_in_the_cache_files_place_never_blocks(loopback, make_facts, tmp_path,
                                                             caplog):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    path = tmp_path / "cache" / facts.FILE_NAME
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    model_facts = make_facts()
    with caplog.at_level(logging.WARNING, "forge_ipy"):
        model_facts.refresh_in_background(document_url(loopback, "facts")).result(timeout=30)
    assert "not a regular file" in caplog.text
    assert _context(model_facts) == 128_000
    assert path.is_file()  # the fetched catalog took the pipe's place


def test_a_cached_catalog_of_another_url_is_not_used(loopback, make_facts):
    add_document(loopback, "facts", LIVE_DOCUMENT)
    add_document(loopback, "other", models_dev_document(
        {"openai": {"gpt-4o": {"limit": {"context": 7}}}}))
    make_facts().refresh_in_background(document_url(loopback, "facts")).result(timeout=10)

    model_facts = make_facts()
    pending = model_facts.refresh_in_background(document_url(loopback, "other"))

    assert _context(model_facts) == 1  # the snapshot, not the other address's catalog
    pending.result(timeout=10)
    assert _context(model_facts) == 7


def test_importing_facts_loads_no_http_stack_and_no_catalog():
    code = ("import sys, forge_ipy.facts as f; "
            "print('httpx' in sys.modules, 'asyncio' in sys.modules, f._FACTS._snapshot)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == ["False", "False", "None"]
