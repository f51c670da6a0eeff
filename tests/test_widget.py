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
from forge_ipy.groups import model_cells
from forge_ipy.ipython.chooser import ChooserState
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
    return [option[0] for option in group(picker, group_id)["options"]]


def cells(picker: ModelPicker, group_id: str) -> dict[str, list[str]]:
    """full name -> [id, context, tools, reasoning, price, new] as the front end gets them."""
    return {option[0]: option[1:] for option in group(picker, group_id)["options"]}


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
    columns = cells(picker, "mistral")
    assert columns["mistral/o3-mini"][:3] == ["o3-mini", "200k", "tools"]
    assert columns["mistral/GPT-4o"][:3] == ["GPT-4o", "128k", ""]
    assert columns["mistral/gpt-4.1"][:3] == ["gpt-4.1", "", ""]
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
               if o[1] == "gpt-4o"]
    assert sorted(option[0] for option in options) == ["deepseek/gpt-4o", "openai/gpt-4o"]
    assert values(picker, "recents") == ["deepseek/gpt-4o"]
    # Favourites and Recent mix providers: the id column names the provider.
    assert cells(picker, "recents")["deepseek/gpt-4o"][0] == "deepseek/gpt-4o"


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
    assert [g["label"] for g in picker.groups[:2]] == ["Favourites", "Recent"]
    assert values(picker, "favourites") == ["gemini/gemini-2.5-pro", "openai/gpt-4o"]
    assert cells(picker, "favourites")["gemini/gemini-2.5-pro"][:2] == [
        "gemini/gemini-2.5-pro", "1M"]
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
    assert cells(picker, "ollama")[f"ollama/{HOSTILE_ID}"][0] == HOSTILE_ID
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


def test_groups_and_cells_are_the_terminal_choosers(all_providers):
    """One function decides the groups, their order and labels for both pickers."""
    Catalog().select("openai/gpt-4o")
    Catalog().toggle_favourite("anthropic/claude-haiku-4-5")
    picker = make_picker()
    listing = Catalog().cached()
    chooser = ChooserState(listing, favourites=["anthropic/claude-haiku-4-5"],
                           recents=["openai/gpt-4o"], height=500)
    headers = [line.text for line in chooser.lines if line.kind == "header"]
    assert [g["label"] + (f" — {g['reason']}" if g["reason"] else "")
            for g in picker.groups] == headers
    models: dict[str, Model] = {m.full_name: m for m in listing}
    for g in picker.groups:
        for value, *columns in g["options"]:
            model = models[value]
            assert columns == [*model_cells(model, g["kind"] != "provider"), ""]
            assert columns[0] == (value if g["kind"] != "provider" else model.id)


def test_a_refresh_marks_the_new_models(loopback, serve):
    provider = loopback.add("openai", [FakeModel("gpt-4o")])
    serve()
    make_picker()
    provider.models.append(FakeModel("gpt-5"))
    picker = make_picker()
    frontend_sends(picker, {"type": "refresh"})
    assert picker.wait(30)
    assert cells(picker, "openai")["openai/gpt-5"][-1] == "new"
    assert cells(picker, "openai")["openai/gpt-4o"][-1] == ""
    assert picker.status == "1 new: openai/gpt-5"


def test_without_widgets_the_output_is_a_readable_list(all_providers):
    """VS Code reopening a notebook, nbconvert: the text/plain beside the widget view."""
    picker = make_picker()
    bundle, _ = picker._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    text = bundle["text/plain"].splitlines()
    assert text[0] == "Anthropic"
    assert text[1].split()[:3] == ["claude-haiku-4-5", "200k", "tools"]
    assert "OpenRouter" in text and any(line.startswith("  openai/gpt-4o ") for line in text)


def test_nobody_logged_in_says_how_to_log_in(serve):
    serve()
    picker = make_picker()
    assert picker.groups == [] and picker.status_kind == "error"
    assert picker.status.startswith("not logged in to any provider. Set a key such as")


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
    # Each option: value, then the cells id, context, tools, reasoning, price, new.
    assert group(picker, "groq")["options"] == [
        ["groq/deepseek-r1-distill-llama-70b",
         "deepseek-r1-distill-llama-70b", "128k", "tools", "reasoning", "", ""]]
    assert group(picker, "openrouter")["options"] == [
        ["openrouter/vendor/old-model", "vendor/old-model", "", "", "", "", ""]]
    assert group(picker, "together")["options"] == [
        ["together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
         "meta-llama/Llama-3.3-70B-Instruct-Turbo", "128k", "tools", "", "$0.88 / $0.88",
         ""]]  # tools: the catalog
