"""The model picker, kernel side, without a browser.

Widgets are created with a recording comm, so the tests see exactly the messages a front end
would receive, and talk to the widget with the messages `widget.js` sends.
"""

from __future__ import annotations

import json
import time
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from forge_ipy.catalog import Catalog
from forge_ipy.domain import Model
from forge_ipy.formatting import format_model_line
from forge_ipy.ipython.widget import ModelPicker
from forge_ipy.settings import config_dir
from forge_ipy.state import RECENTS_KEPT
from forge_ipy.testing import FakeModel, sample_models

HOSTILE_ID = "<img src=x onerror=alert(1)>"


class RecordingComm(BaseComm):
    """A comm that keeps what the kernel would send to the front end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        self.sent.append((msg_type, json.loads(json.dumps(data or {}))))

    def updates(self) -> list[dict[str, Any]]:
        """The state updates sent so far, one dict per message."""
        return [data["state"] for kind, data in self.sent
                if kind == "comm_msg" and data.get("method") == "update"]


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", RecordingComm)


@pytest.fixture
def all_providers(loopback, serve):
    for provider_id in ("openai", "anthropic", "gemini", "openrouter", "deepseek", "ollama"):
        loopback.add(provider_id)
    return serve()


def make_picker(**kwargs: Any) -> ModelPicker:
    picker = ModelPicker(catalog=Catalog(), **kwargs)
    assert picker.wait(30), "the picker's fetch did not finish"
    return picker


def frontend_sends(picker: ModelPicker, content: dict[str, Any]) -> None:
    """Deliver a custom message the way the front end's `model.send(content)` arrives."""
    picker.comm.handle_msg({"content": {"comm_id": picker.comm.comm_id,
                                        "data": {"method": "custom", "content": content}},
                            "buffers": []})


def remote(loading: list[str] | None) -> list[str]:
    """The providers still loading, without Ollama: the catalog also tries Ollama's default
    root (closed in the tests), which yields no result and so stays waiting to the end."""
    return [p for p in loading or () if p != "ollama"]


def saved_state() -> dict[str, Any]:
    return json.loads((config_dir() / "state.json").read_text(encoding="utf-8"))


def group(picker: ModelPicker, group_id: str) -> dict[str, Any]:
    return next(g for g in picker.groups if g["id"] == group_id)


def values(picker: ModelPicker, group_id: str) -> list[str]:
    return [value for value, _ in group(picker, group_id)["options"]]


def test_options_grouped_by_provider_and_sorted(all_providers, serve):
    all_providers.add("mistral", [FakeModel("o3-mini", context_length=200000, tools=True),
                                  FakeModel("GPT-4o", context_length=128000, tools=False),
                                  FakeModel("gpt-4.1")])
    serve()
    picker = make_picker()

    assert [g["kind"] for g in picker.groups] == ["provider"] * 7
    assert [g["label"] for g in picker.groups] == [
        "Anthropic", "DeepSeek", "Google Gemini", "Mistral", "Ollama", "OpenAI", "OpenRouter"]
    assert values(picker, "mistral") == ["mistral/gpt-4.1", "mistral/GPT-4o", "mistral/o3-mini"]
    labels = dict(group(picker, "mistral")["options"])
    assert labels["mistral/o3-mini"] == "o3-mini  200k  tools"
    assert labels["mistral/GPT-4o"] == "GPT-4o  128k  no tools"
    assert labels["mistral/gpt-4.1"] == "gpt-4.1  no tools"
    for g in picker.groups:
        assert not g["disabled"] and g["reason"] == ""
    assert picker.busy is False and picker.loading == []


def test_current_model_is_preselected_and_same_id_told_apart(all_providers):
    all_providers.add("deepseek", [FakeModel("gpt-4o"), FakeModel("deepseek-chat")])
    Catalog().select("deepseek/gpt-4o")
    picker = make_picker()

    assert picker.value == "deepseek/gpt-4o"
    assert "openai/gpt-4o" in values(picker, "openai")
    assert "deepseek/gpt-4o" in values(picker, "deepseek")
    # The same id under two providers: two options, two values, each in its provider's group.
    options = [o for g in picker.groups if g["kind"] == "provider" for o in g["options"]
               if o[0].split("/", 1)[1] == "gpt-4o"]  # labels now carry facts
    assert sorted(value for value, _ in options) == ["deepseek/gpt-4o", "openai/gpt-4o"]
    assert values(picker, "recents") == ["deepseek/gpt-4o"]
    assert dict(group(picker, "recents")["options"])["deepseek/gpt-4o"] == "gpt-4o  · DeepSeek"


def test_select_message_switches_provider_and_model_and_persists(all_providers):
    Catalog().select("openai/gpt-4o")
    picker = make_picker()
    frontend_sends(picker, {"type": "select", "value": "anthropic/claude-haiku-4-5"})

    assert picker.status == "Switched to model: claude-haiku-4-5 on provider: Anthropic"
    assert picker.status_kind == "info"
    assert picker.value == "anthropic/claude-haiku-4-5"
    state = saved_state()
    assert (state["provider_id"], state["model"]) == ("anthropic", "claude-haiku-4-5")
    assert state["recents"][:2] == ["anthropic/claude-haiku-4-5", "openai/gpt-4o"]
    current = Catalog().current()
    assert current is not None and current.full_name == "anthropic/claude-haiku-4-5"
    assert values(picker, "recents") == ["anthropic/claude-haiku-4-5", "openai/gpt-4o"]
    # What the front end saw: value, status and the new recents in one message.
    last = picker.comm.updates()[-1]
    assert last["value"] == "anthropic/claude-haiku-4-5" and "groups" in last
    assert last["status"] == picker.status

    frontend_sends(picker, {"type": "select", "value": "anthropic/claude-sonnet-4-5"})
    assert picker.status == "Switched to model: claude-sonnet-4-5"  # same provider


def test_model_id_with_slashes_keeps_its_provider(all_providers):
    picker = make_picker()
    frontend_sends(picker, {"type": "select", "value": "openrouter/openai/gpt-4o"})
    assert picker.status == "Switched to model: openai/gpt-4o on provider: OpenRouter"
    assert (saved_state()["provider_id"], saved_state()["model"]) == ("openrouter",
                                                                      "openai/gpt-4o")


def test_refused_selection_shows_the_reason_and_keeps_the_model(all_providers):
    Catalog().select("openai/gpt-4o")
    picker = make_picker()
    frontend_sends(picker, {"type": "select", "value": "openai/no-such-model"})

    assert picker.status_kind == "error"
    assert "unknown model 'openai/no-such-model'" in picker.status
    assert picker.value == "openai/gpt-4o"
    assert saved_state()["model"] == "gpt-4o"


def test_malformed_messages_are_ignored(all_providers):
    picker = make_picker()
    before = len(picker.comm.sent)
    for content in ({"type": "select"}, {"type": "select", "value": 3},
                    {"type": "select", "value": "x" * 5000}, {"type": "nope"}, {}):
        frontend_sends(picker, content)
    assert len(picker.comm.sent) == before
    assert not (config_dir() / "state.json").exists()


def test_favourites_and_recents_are_groups_above_the_providers(all_providers):
    picker = make_picker()
    frontend_sends(picker, {"type": "favourite", "value": "gemini/gemini-2.5-pro"})
    frontend_sends(picker, {"type": "favourite", "value": "openai/gpt-4o"})
    frontend_sends(picker, {"type": "select", "value": "deepseek/deepseek-chat"})

    assert [g["kind"] for g in picker.groups[:3]] == ["favourites", "recents", "provider"]
    assert [g["label"] for g in picker.groups[:2]] == ["Favourites", "Recently used"]
    assert values(picker, "favourites") == ["gemini/gemini-2.5-pro", "openai/gpt-4o"]
    assert dict(group(picker, "favourites")["options"])["gemini/gemini-2.5-pro"] == \
        "gemini-2.5-pro  1.05M  tools  reasoning  $1.25 / $10  · Google Gemini"  # the catalog
    assert saved_state()["favourites"] == ["gemini/gemini-2.5-pro", "openai/gpt-4o"]

    frontend_sends(picker, {"type": "favourite", "value": "gemini/gemini-2.5-pro"})
    assert picker.status == "Removed gemini/gemini-2.5-pro from favourites"
    assert values(picker, "favourites") == ["openai/gpt-4o"]
    assert saved_state()["favourites"] == ["openai/gpt-4o"]
    # A new picker (a new cell, another kernel) shows the same shortcuts.
    again = make_picker()
    assert [g["id"] for g in again.groups[:2]] == ["favourites", "recents"]
    assert values(again, "recents") == ["deepseek/deepseek-chat"]


def test_recents_keep_the_last_ten_selected(loopback, serve):
    loopback.add("openai", sample_models("openai", count=12))
    serve()
    picker = make_picker()
    names = values(picker, "openai")
    for name in names:
        frontend_sends(picker, {"type": "select", "value": name})

    expected = list(reversed(names))[:RECENTS_KEPT]
    assert RECENTS_KEPT == 10
    assert values(picker, "recents") == expected
    assert saved_state()["recents"] == expected


def test_appears_at_once_and_fills_in_as_providers_answer(loopback, serve):
    loopback.add("openai")
    loopback.add("anthropic", latency=0.6)
    loopback.add("gemini", latency=1.2)
    serve()
    started = time.monotonic()
    picker = ModelPicker(catalog=Catalog())
    assert time.monotonic() - started < 0.5, "the widget must not wait for the providers"
    assert picker.busy is True
    assert picker.wait(30)

    opened = next(data for kind, data in picker.comm.sent if kind == "comm_open")
    assert opened["state"]["groups"] == []  # nothing cached yet: it appeared empty
    shown = [[g["id"] for g in update["groups"]] for update in picker.comm.updates()
             if "groups" in update]
    assert shown[-3:] == [["openai"], ["anthropic", "openai"],
                          ["anthropic", "gemini", "openai"]]
    loading = [remote(u["loading"]) for u in picker.comm.updates() if remote(u.get("loading"))]
    assert loading[-2:] == [["anthropic", "gemini"], ["gemini"]]
    # Each provider's arrival is one message carrying the groups and the loading list.
    for update in picker.comm.updates():
        if "groups" in update and update.get("busy") is not False:
            assert "loading" in update
    assert picker.busy is False and picker.loading == []


def test_cached_lists_show_at_once_and_stay_while_refreshing(loopback, serve):
    loopback.add("openai")
    loopback.add("anthropic")
    serve()
    make_picker()  # fills the cache
    loopback.providers["anthropic"].latency = 1.0
    picker = ModelPicker(catalog=Catalog())
    # Straight from the cache, before any provider answered.
    assert [g["id"] for g in picker.groups] == ["anthropic", "openai"]
    sent_before = len(picker.comm.updates())
    frontend_sends(picker, {"type": "refresh"})
    assert picker.busy is True
    assert picker.wait(30)
    updates = picker.comm.updates()[sent_before:]
    assert any(remote(u.get("loading")) == ["anthropic"] for u in updates), \
        "openai answered first while anthropic was still loading"
    # Anthropic's cached group stayed on screen while it was being fetched again.
    for update in updates:
        if "groups" in update:
            assert [g["id"] for g in update["groups"]] == ["anthropic", "openai"]
    assert [g["id"] for g in picker.groups] == ["anthropic", "openai"]
    assert [len(loopback.requests_for(p)) for p in ("openai", "anthropic")] == [2, 2]


def test_failed_provider_is_a_disabled_group_with_the_reason(loopback, serve):
    loopback.add("openai")
    loopback.add("anthropic", failure="status:500")
    loopback.add("gemini", key="another-key")
    serve()
    loopback.providers["gemini"].key = "the-real-key"  # the key we sent is now wrong
    picker = make_picker()

    anthropic, gemini = group(picker, "anthropic"), group(picker, "gemini")
    assert anthropic["disabled"] and anthropic["options"] == []
    assert anthropic["reason"].startswith("failed: ") and "500" in anthropic["reason"]
    assert gemini["disabled"] and gemini["reason"].startswith("failed: ")
    assert not group(picker, "openai")["disabled"]
    assert "the-real-key" not in json.dumps(picker.comm.sent)
    assert "another-key" not in json.dumps(picker.comm.sent)


def test_stale_list_after_a_failed_refresh_keeps_its_models(loopback, serve):
    loopback.add("openai")
    serve()
    make_picker()
    loopback.providers["openai"].failure = "status:503"
    picker = make_picker()
    frontend_sends(picker, {"type": "refresh"})
    assert picker.wait(30)
    openai = group(picker, "openai")
    assert not openai["disabled"] and len(openai["options"]) == 3
    assert openai["reason"].startswith("stale, cached ")


def test_model_names_are_data(loopback, serve):
    loopback.add("ollama", [FakeModel(HOSTILE_ID), FakeModel("llama3.2:latest")])
    serve()
    picker = make_picker()
    assert [f"ollama/{HOSTILE_ID}", f"{HOSTILE_ID}  no tools"] in group(picker, "ollama")[
        "options"]
    frontend_sends(picker, {"type": "select", "value": f"ollama/{HOSTILE_ID}"})
    assert picker.value == f"ollama/{HOSTILE_ID}"
    assert saved_state()["model"] == HOSTILE_ID


def test_two_thousand_models_keep_the_state_compact(loopback, serve):
    providers = ("openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek",
                 "xai")
    for provider_id in providers:
        loopback.add(provider_id, sample_models(provider_id, count=250))
    serve()
    started = time.monotonic()
    picker = make_picker()
    elapsed = time.monotonic() - started

    # one in twenty is an embedding model: not offered where its provider says so (Gemini,
    # OpenRouter, Groq, Mistral); the others' are named by nothing and stay offered
    assert sum(len(g["options"]) for g in picker.groups) == 2000 - 4 * 12
    synced = picker.keys
    assert len(synced) < 30, "one trait per model would show here"
    size = len(json.dumps(picker.groups))
    assert size < 250_000, f"groups take {size} bytes"
    assert len(picker.comm.updates()) <= 2 * len(providers) + 2
    assert elapsed < 10
    assert len(repr(picker)) < 200
    assert repr(picker) == "<ModelPicker value='': 1952 models from 8 providers>"


def test_closed_picker_stops_updating(loopback, serve):
    loopback.add("openai", latency=0.5)
    serve()
    picker = ModelPicker(catalog=Catalog())
    picker.close()
    time.sleep(1.0)
    assert picker.groups == []


def test_labels_come_from_the_shared_formatter(all_providers):
    picker = make_picker()
    listing = Catalog().cached()
    models: dict[str, Model] = {m.full_name: m for m in listing}
    for g in picker.groups:
        for value, label in g["options"]:
            assert label == format_model_line(models[value])


def test_settings_reach_every_fetch_and_selection(loopback, serve):
    loopback.add("openai")
    serve()
    make_picker()  # fills the cache
    picker = ModelPicker(settings={"model_cache_strategy": "fresh"})  # the process's catalog
    assert picker.wait(30)
    assert len(loopback.requests_for("openai")) == 2, "fresh: fetched although cached"
    frontend_sends(picker, {"type": "select", "value": "openai/gpt-4o"})
    assert picker.status == "Switched to model: gpt-4o on provider: OpenAI"


def test_a_bad_setting_is_shown_not_raised(loopback, serve):
    loopback.add("openai")
    serve()
    picker = ModelPicker(catalog=Catalog(), settings={"model_cache_strategy": "sometimes"})
    assert picker.wait(5)
    assert picker.status_kind == "error" and picker.busy is False
    assert "model_cache_strategy" in picker.status and "aggressive" in picker.status


def test_the_picker_offers_chat_models_with_their_facts(loopback, serve):
    loopback.add("together", [FakeModel("BAAI/bge-large-en-v1.5", chat=False),
                              FakeModel("meta-llama/Llama-3.3-70B-Instruct-Turbo",
                                        context_length=128000, input_price=0.88,
                                        output_price=0.88)])
    loopback.add("groq", [FakeModel("deepseek-r1-distill-llama-70b", context_length=128000,
                                    tools=True, reasoning=True),
                          FakeModel("whisper-large-v3", kind="audio"),
                          FakeModel("gemma2-9b-it", status="retired")])
    loopback.add("openrouter", [FakeModel("vendor/old-model", status="deprecated")])
    serve()
    picker = make_picker()
    assert group(picker, "groq")["options"] == [
        ["groq/deepseek-r1-distill-llama-70b",
         "deepseek-r1-distill-llama-70b  128k  tools  reasoning"]]
    assert group(picker, "openrouter")["options"] == [
        ["openrouter/vendor/old-model", "vendor/old-model  no tools  deprecated"]]
    assert group(picker, "together")["options"] == [
        ["together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
         "meta-llama/Llama-3.3-70B-Instruct-Turbo  128k  tools  $0.88 / $0.88"]]  # catalog
