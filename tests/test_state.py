"""The selection (`state.json`): provider and model written together in one replace, recents
capped and most recent first, favourites toggled, and a damaged file read as empty."""

from __future__ import annotations

import json
import logging
import os

import pytest

import forge_ipy.files
from forge_ipy import state
from forge_ipy.domain import Selection
from forge_ipy.state import RECENTS_KEPT, State, load_state, save_selection, state_path


def select(full_name: str) -> State:
    provider_id, model = full_name.split("/", 1)
    return save_selection(Selection(provider_id=provider_id, model=model))


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "forge_ipy" and r.levelno >= logging.WARNING]


def test_no_file_is_an_empty_state(caplog):
    assert load_state() == State()
    assert warnings_of(caplog) == []


def test_provider_and_model_are_written_in_one_replace(monkeypatch):
    select("openai/gpt-4o")
    replaced = []
    real_replace = os.replace

    def counting(src, dst):
        replaced.append(os.fspath(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(forge_ipy.files.os, "replace", counting)

    saved = select("anthropic/claude-sonnet-4-5")

    assert replaced == [str(state_path())]
    data = json.loads(state_path().read_text())
    assert (data["provider_id"], data["model"]) == ("anthropic", "claude-sonnet-4-5")
    assert saved.selection == Selection(provider_id="anthropic", model="claude-sonnet-4-5")
    assert load_state() == saved


def test_a_model_id_with_slashes_keeps_its_provider():
    select("openrouter/meta-llama/llama-3.3-70b-instruct")
    selection = load_state().selection
    assert (selection.provider_id, selection.model) == \
        ("openrouter", "meta-llama/llama-3.3-70b-instruct")
    assert selection.full_name == "openrouter/meta-llama/llama-3.3-70b-instruct"


def test_recents_are_most_recent_first_without_repeats_and_capped():
    for i in range(RECENTS_KEPT + 3):
        select(f"openai/m-{i}")
    select("openai/m-5")  # again: moves to the front, not listed twice

    recents = load_state().recents

    assert RECENTS_KEPT == 10
    assert len(recents) == RECENTS_KEPT
    assert recents[0] == "openai/m-5"
    assert recents[1:4] == ("openai/m-12", "openai/m-11", "openai/m-10")
    assert len(set(recents)) == len(recents)
    assert "openai/m-0" not in recents


def test_favourites_toggle_and_keep_the_selection():
    select("openai/gpt-4o")

    assert state.toggle_favourite("openai/gpt-4o").favourites == ("openai/gpt-4o",)
    assert state.toggle_favourite("anthropic/claude").favourites == \
        ("openai/gpt-4o", "anthropic/claude")
    after = state.toggle_favourite("openai/gpt-4o")

    assert after.favourites == ("anthropic/claude",)
    assert load_state().favourites == ("anthropic/claude",)
    assert load_state().selection == Selection(provider_id="openai", model="gpt-4o")
    assert load_state().recents == ("openai/gpt-4o",)


def test_a_selection_keeps_the_favourites():
    state.toggle_favourite("openai/gpt-4o")
    select("anthropic/claude")
    assert load_state().favourites == ("openai/gpt-4o",)


@pytest.mark.parametrize("content", [
    pytest.param("", id="empty"),
    pytest.param('{"provider_id": "openai", "mod', id="truncated"),
    pytest.param("not json", id="not-json"),
    pytest.param("[]", id="a-list"),
    pytest.param('"openai/gpt-4o"', id="a-string"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
])
def test_a_damaged_file_reads_as_empty_with_one_warning(caplog, content):
    path = state_path()
    path.parent.mkdir(parents=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)

    assert load_state() == State()
    [warning] = warnings_of(caplog)
    assert str(path) in warning and "\n" not in warning

    saved = select("openai/gpt-4o")  # the next selection rewrites it
    assert load_state() == saved
    assert saved.recents == ("openai/gpt-4o",)


def test_wrong_types_inside_are_ignored_field_by_field():
    path = state_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"provider_id": "openai", "model": 4, "recents": "x",
                                "favourites": ["openai/gpt-4o", 3, None]}))

    loaded = load_state()

    assert loaded.selection is None
    assert loaded.recents == ()
    assert loaded.favourites == ("openai/gpt-4o",)
