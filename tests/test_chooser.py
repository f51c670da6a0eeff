"""The terminal chooser: its list logic directly, and the real application through pipe input."""

from __future__ import annotations

import time

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from forge_ipy.domain import Model, ModelListing, ProviderStatus
from forge_ipy.ipython.chooser import ChooserState, _render_list, choose_model

UP, DOWN, PAGE_DOWN, PAGE_UP, ENTER, ESC = "\x1b[A", "\x1b[B", "\x1b[6~", "\x1b[5~", "\r", "\x1b"


def status(pid: str, name: str, count: int, error: str | None = None) -> ProviderStatus:
    return ProviderStatus(id=pid, name=name, ok=error is None, model_count=count,
                          fetched_at=time.time(), error=error,
                          error_kind="auth" if error else None)


def listing_of(groups: dict[str, list[str]], failed: dict[str, str] | None = None,
               names: dict[str, str] | None = None) -> ModelListing:
    """Providers in the order given; `failed` maps provider id -> error for extra providers."""
    models = tuple(
        Model(provider_id=pid, id=mid, name=(names or {}).get(f"{pid}/{mid}", ""),
              context_length=128_000, tools=True)
        for pid, ids in groups.items() for mid in ids
    )
    statuses = [status(pid, pid.capitalize(), len(ids)) for pid, ids in groups.items()]
    statuses += [status(pid, pid.capitalize(), 0, err) for pid, err in (failed or {}).items()]
    return ModelListing(models, tuple(statuses))


LISTING = listing_of(
    {"anthropic": ["claude-3-5-haiku", "claude-sonnet-4"],
     "openai": ["gpt-4o", "gpt-4o-mini", "shared-model"],
     "openrouter": ["meta/llama-3", "shared-model"]},
    failed={"xai": "HTTP 401 Unauthorized"},
    names={"openai/gpt-4o": "GPT-4o Omni"},
)


def run(keys: str, listing: ModelListing = LISTING, current: str | None = None,
        **kwargs) -> str | None:
    with create_pipe_input() as inp:
        inp.send_text(keys)
        return choose_model(listing, current, input=inp, output=DummyOutput(), **kwargs)


def texts(state: ChooserState) -> list[str]:
    return [("> " if line.selected else "  " if line.kind == "model" else "") + line.text
            for line in state.visible_lines()]


# -- the application, driven through a pipe ----------------------------------------------

def test_enter_returns_the_current_model():
    assert run(ENTER, current="openai/gpt-4o-mini") == "openai/gpt-4o-mini"


def test_same_id_under_two_providers_is_told_apart():
    assert run(ENTER, current="openrouter/shared-model") == "openrouter/shared-model"
    assert run(ENTER, current="openai/shared-model") == "openai/shared-model"
    assert run(UP + ENTER, current="openrouter/shared-model") == "openrouter/meta/llama-3"


def test_typing_filters_and_enter_picks_the_first_match():
    assert run("gpt\r", current="openrouter/shared-model") == "openai/gpt-4o"
    assert run("SONNET\r") == "anthropic/claude-sonnet-4"
    assert run("omni\r") == "openai/gpt-4o"  # the model's display name matches too
    assert run("shared" + DOWN + ENTER) == "openrouter/shared-model"


def test_backspace_widens_the_filter_again():
    assert run("gptx\x7f" + DOWN + ENTER) == "openai/gpt-4o-mini"


def test_down_crosses_a_provider_header():
    assert run(DOWN + ENTER, current="anthropic/claude-sonnet-4") == "openai/gpt-4o"
    assert run("\x0e" + ENTER, current="anthropic/claude-sonnet-4") == "openai/gpt-4o"  # C-n
    assert run("\x10" + ENTER, current="openai/gpt-4o") == "anthropic/claude-sonnet-4"  # C-p


def test_moves_stop_at_the_ends():
    assert run(UP * 3 + ENTER) == "anthropic/claude-3-5-haiku"
    assert run(DOWN * 50 + ENTER) == "openrouter/shared-model"


def test_page_keys_jump():
    listing = listing_of({"p": [f"m{i:03d}" for i in range(100)]})
    assert run(PAGE_DOWN + ENTER, listing) == "p/m013"
    assert run(PAGE_DOWN * 2 + PAGE_UP + ENTER, listing) == "p/m013"


def test_escape_cancels():
    with create_pipe_input() as inp:
        inp.send_text(ESC)  # a lone Esc is recognised after the application's ttimeoutlen
        assert choose_model(LISTING, "openai/gpt-4o", input=inp, output=DummyOutput()) is None


def test_ctrl_c_cancels():
    assert run("gpt\x03", current="openai/gpt-4o") is None


def test_enter_with_no_match_keeps_the_chooser_open():
    assert run("nothing-like-this\r" + "\x7f" * 17 + "haiku\r") == "anthropic/claude-3-5-haiku"


def test_favourites_come_first():
    favs = ["openrouter/shared-model", "missing/model", "openai/gpt-4o"]
    assert run(ENTER, favourites=favs) == "openrouter/shared-model"
    assert run(DOWN + ENTER, favourites=favs) == "openai/gpt-4o"
    assert run(DOWN * 2 + ENTER, favourites=favs) == "anthropic/claude-3-5-haiku"


def test_recents_follow_favourites():
    result = run(DOWN + ENTER, favourites=["openai/gpt-4o"],
                 recents=["openai/gpt-4o", "anthropic/claude-sonnet-4"])
    assert result == "anthropic/claude-sonnet-4"


def test_failed_provider_header_is_shown_and_skipped():
    # xai failed and sorts last: its header is visible but Down cannot land on it.
    assert run(DOWN * 10 + ENTER) == "openrouter/shared-model"
    state = ChooserState(LISTING, "openrouter/shared-model")
    headers = [line.text for line in state.visible_lines() if line.kind == "header"]
    assert headers[-1] == "Xai — failed: HTTP 401 Unauthorized"
    assert state.visible_lines()[-1].failed


def test_two_thousand_models_filter():
    listing = listing_of({f"prov{p}": [f"model-{p}-{i:04d}" for i in range(400)]
                          for p in range(5)})
    assert run("model-3-0399\r", listing) == "prov3/model-3-0399"
    assert run("PROV4/MODEL-4-01" + DOWN * 3 + ENTER, listing) == "prov4/model-4-0103"
    assert run(ENTER, listing, current="prov2/model-2-0250") == "prov2/model-2-0250"


# -- ChooserState, no terminal --------------------------------------------------------------

def test_state_groups_and_headers():
    state = ChooserState(LISTING, favourites=["openai/gpt-4o"],
                         recents=["anthropic/claude-sonnet-4"], height=50)
    assert texts(state) == [
        "Favourites",
        "> openai/gpt-4o  128k  tools",
        "Recent",
        "  anthropic/claude-sonnet-4  128k  tools",
        "Anthropic",
        "  claude-3-5-haiku  128k  tools",
        "  claude-sonnet-4  128k  tools",
        "Openai",
        "  gpt-4o  128k  tools",
        "  gpt-4o-mini  128k  tools",
        "  shared-model  128k  tools",
        "Openrouter",
        "  meta/llama-3  128k  tools",
        "  shared-model  128k  tools",
        "Xai — failed: HTTP 401 Unauthorized",
    ]
    assert state.hint() == "↑↓ move · Enter select · Esc cancel · 7 models"


def test_state_filter_keeps_headers_of_groups_with_matches():
    state = ChooserState(LISTING, "openai/gpt-4o", favourites=["openai/gpt-4o"])
    state.filter("Shared")
    assert texts(state) == ["Openai", "> shared-model  128k  tools",
                            "Openrouter", "  shared-model  128k  tools"]
    assert state.hint().endswith("· 2 of 7 models")
    state.filter("gpt-4o")  # the favourite and its provider line are one model
    assert [line.kind for line in state.visible_lines()] == [
        "header", "model", "header", "model", "model"]
    assert state.match_count == 2
    state.filter("")
    assert state.selected_name == "openai/gpt-4o"  # back to the current model
    assert state.lines[-1].text.startswith("Xai — failed")  # shown again when unfiltered


def test_state_filter_with_no_match():
    state = ChooserState(LISTING)
    state.filter("zzz")
    assert state.visible_lines() == [] and state.selected is None
    state.move(1)
    assert state.selected is None
    assert _render_list(state) == [("class:chooser.empty", "  no models match")]


def test_state_move_skips_headers_and_clamps():
    state = ChooserState(LISTING, "anthropic/claude-sonnet-4")
    state.move(1)
    assert state.selected_name == "openai/gpt-4o"
    state.move(-1)
    assert state.selected_name == "anthropic/claude-sonnet-4"
    state.move(-10)
    assert state.selected_name == "anthropic/claude-3-5-haiku"
    state.move(10)
    assert state.selected_name == "openrouter/shared-model"


def test_state_window_scrolls_to_keep_the_highlight_visible():
    listing = listing_of({"a": [f"a{i:02d}" for i in range(20)],
                          "b": [f"b{i:02d}" for i in range(20)]})
    state = ChooserState(listing, height=5)
    assert [line.text.split()[0] for line in state.visible_lines()] == [
        "A", "a00", "a01", "a02", "a03"]
    state.move(5)  # a05: scrolled so it is the last visible line
    lines = state.visible_lines()
    assert len(lines) == 5 and lines[-1].selected and lines[-1].text.startswith("a05")
    state.move(15)  # b00: its header scrolls into view with it
    lines = state.visible_lines()
    assert [line.text.split()[0] for line in lines][-2:] == ["B", "b00"]
    assert lines[-1].selected
    state.move(-1)  # a19 sits right above the header: the window keeps it in view
    assert any(line.selected and line.text.startswith("a19") for line in state.visible_lines())
    state.first()
    assert state.top == 0
    state.last()
    assert state.visible_lines()[-1].text.startswith("b19")
    state = ChooserState(listing, "b/b10", height=5)
    assert any(line.selected and line.text.startswith("b10") for line in state.visible_lines())


def test_state_height_shrinks_to_a_short_list():
    state = ChooserState(listing_of({"a": ["one"]}))
    assert state.height == 2


def test_current_is_resolved_by_full_name_or_bare_id():
    assert ChooserState(LISTING, "gpt-4o-mini").selected_name == "openai/gpt-4o-mini"
    assert ChooserState(LISTING, "meta/llama-3").selected_name == "openrouter/meta/llama-3"
    # A known provider without that model: not another provider's model of the same id.
    state = ChooserState(LISTING, "anthropic/shared-model")
    assert state.current is None and state.selected_name == "anthropic/claude-3-5-haiku"


def test_model_ids_are_plain_text():
    listing = listing_of({"x": ["<b>bold</b>&amp;"]})
    fragments = _render_list(ChooserState(listing, "x/<b>bold</b>&amp;"))
    selected = ("class:chooser.selected class:chooser.current", "> <b>bold</b>&amp;  128k  tools")
    assert selected in fragments
    assert run(ENTER, listing) == "x/<b>bold</b>&amp;"
