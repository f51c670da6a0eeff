"""`%%forge` in a real InteractiveShell against the loopback server: streaming into one
display (notebook) or the terminal, the footer, `{name}` interpolation, `-c`, a name for one
cell, errors as one line, interrupts, and that `%load_ext` imports nothing of chat."""

# ruff: noqa: F811  (tests take the `ip` fixture imported from test_magics as a parameter)
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from IPython.core.error import UsageError
from test_magics import ip, shell  # noqa: F401  (the shell fixtures, shared)

from forge_ipy.chat.reply import Reply
from forge_ipy.domain import Selection
from forge_ipy.ipython import forge_cell, magics
from forge_ipy.ipython.forge_cell import ChatOutput, interpolate
from forge_ipy.state import load_state
from forge_ipy.testing import LoopbackProviders, echo_reply
from forge_ipy.text import escape_markdown


@pytest.fixture
def served(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    for pid in ("openai", "anthropic", "openrouter"):
        loopback.add(pid)
    loopback.add("ollama")
    return serve()


def run(ip, capsys, source: str) -> tuple[Any, str, str]:
    capsys.readouterr()
    result = ip.run_cell(source)
    out, err = capsys.readouterr()
    return result, out, err


def usage_error(result: Any) -> str:
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    message = str(result.error_in_exec)
    assert "\n" not in message
    return message


class FakeDisplay:
    """Stands in for IPython.display.display in a notebook: records the one display and
    every update to it."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.displayed: list[Any] = []
        self.updates: list[ChatOutput] = []
        self.interrupt_after = interrupt_after

    def __call__(self, obj: Any, display_id: bool = False) -> FakeDisplay:
        assert display_id is True
        self.displayed.append(obj)
        return self

    def update(self, obj: ChatOutput) -> None:
        self.updates.append(obj)
        if self.interrupt_after is not None and len(self.updates) == self.interrupt_after:
            raise KeyboardInterrupt


@pytest.fixture
def notebook(monkeypatch) -> FakeDisplay:
    import IPython.display

    fake = FakeDisplay()
    monkeypatch.setattr(magics, "_in_notebook", lambda shell: True)
    monkeypatch.setattr(IPython.display, "display", fake)
    monkeypatch.setattr(forge_cell, "UPDATE_SECONDS", 0.0)  # draw every piece
    return fake


# -- the terminal ----------------------------------------------------------------------
def test_the_reply_streams_as_text_then_the_footer(ip, served, capsys):
    ip.user_ns["topic"] = "the moon"
    result, out, _ = run(ip, capsys, "%%forge ollama/llama3.2:latest\ntell me about {topic}")
    assert result.success
    reply, footer = out.strip().split("\n\n")
    assert reply == echo_reply("tell me about the moon")
    assert footer.startswith("ollama/llama3.2:latest · 5 in · 7 out · ")
    assert footer.endswith(" s") and "$" not in footer  # a local model has no prices


def test_the_footer_shows_the_cost_where_prices_are_known(ip, served, capsys):
    _, out, _ = run(ip, capsys, "%%forge openrouter/openai/gpt-4o\nhi")  # $2.5 in, $10 out
    footer = out.strip().splitlines()[-1]
    assert footer.startswith("openrouter/openai/gpt-4o · 1 in · 3 out · $0.00003")


def test_terminal_output_cannot_drive_the_terminal(ip, served, capsys):
    ip.user_ns["evil"] = "\x1b]0;owned\x07\x1b[2J"
    _, out, _ = run(ip, capsys, "%%forge openai/gpt-4o\n{evil}")
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2J" in out


# -- the notebook ----------------------------------------------------------------------
def test_a_notebook_gets_one_display_updated_in_place(ip, served, capsys, notebook):
    result, out, _ = run(ip, capsys, "%%forge anthropic/claude-haiku-4-5\nwrite <b>bold</b>")
    assert result.success and out == ""
    assert len(notebook.displayed) == 1  # one output that grows, not one per piece
    texts = [update.text for update in notebook.updates]
    assert len(texts) > 2 and texts == sorted(texts, key=len)  # it grew as pieces came
    final = notebook.updates[-1]
    markdown = final._repr_markdown_()
    assert markdown.startswith("You said: write &lt;b>bold&lt;/b>")  # no live HTML
    assert final.footer.startswith("anthropic/claude-haiku-4-5 · 2 in · 4 out")
    assert markdown.endswith("\n\n---\n" + escape_markdown(final.footer))


@pytest.mark.parametrize(("fmt", "starts"), [("code", "```\nYou said: x"), ("text", None)])
def test_format_code_and_text(ip, served, capsys, notebook, fmt, starts):
    run(ip, capsys, f"%%forge openai/gpt-4o --format {fmt}\nx")
    final = notebook.updates[-1]
    if starts is None:
        assert final._repr_markdown_() is None and repr(final).startswith("You said: x\n\n")
    else:
        assert final._repr_markdown_().startswith(starts)


def test_interrupting_keeps_what_arrived(ip, served, capsys, notebook):
    notebook.interrupt_after = 1  # Ctrl-C while the first piece is drawn; then it hangs
    served.providers["openai"].chat_failure = "hang"
    result, _, _ = run(ip, capsys, "%%forge openai/gpt-4o\nhello")
    assert result.success
    final = notebook.updates[-1]
    assert len(notebook.updates) == 2 and final.text == notebook.updates[0].text == "You "
    assert final.footer.endswith(" · interrupted")


# -- interpolation ---------------------------------------------------------------------
def test_interpolation_replaces_names_and_keeps_doubled_and_other_braces():
    namespace = {"x": 42, "name": "Ada"}
    assert interpolate("{name} is {x}; {{name}} and {\"a\": 1} and {}", namespace) == \
        "Ada is 42; {name} and {\"a\": 1} and {}"


def test_a_missing_name_is_a_one_line_error(ip, served, capsys):
    result, _, _ = run(ip, capsys, "%%forge openai/gpt-4o\nsay {missing}")
    assert usage_error(result) == ("the cell uses {missing} but no variable 'missing' is "
                                   "defined; define it, or write {{missing}} for the text itself")
    assert served.chat_bodies == []


# -- the model: selection, a name for one cell, -c ---------------------------------------
def test_without_a_selection_a_one_line_hint(ip, served, capsys):
    result, _, _ = run(ip, capsys, "%%forge\nhello")
    assert "%forge_select" in usage_error(result)


def test_a_name_on_the_line_is_for_that_cell_only(ip, served, capsys):
    run(ip, capsys, "%forge_select anthropic/claude-haiku-4-5")
    _, out, _ = run(ip, capsys, "%%forge openai/gpt-4o\nhi")
    assert "openai/gpt-4o · " in out
    assert load_state().selection == Selection(provider_id="anthropic", model="claude-haiku-4-5")
    _, out, _ = run(ip, capsys, "%%forge\nhi")
    assert "anthropic/claude-haiku-4-5 · " in out


def test_continue_carries_the_conversation_with_that_model(ip, served, capsys):
    run(ip, capsys, "%%forge openai/gpt-4o --system 'be brief'\nfirst")
    run(ip, capsys, "%%forge anthropic/claude-haiku-4-5\nelsewhere")
    run(ip, capsys, "%%forge openai/gpt-4o -c\nsecond")
    run(ip, capsys, "%%forge openai/gpt-4o --continue\nthird")
    first, _, second, third = served.chat_bodies
    assert [m["content"] for m in second["messages"]] == [
        "first", echo_reply("first"), "second"]
    assert [m["role"] for m in third["messages"]] == ["user", "assistant"] * 2 + ["user"]
    assert first["messages"][0] == {"role": "system", "content": "be brief"}
    run(ip, capsys, "%%forge openai/gpt-4o\nafresh")  # without -c: a new conversation
    assert len(served.chat_bodies[-1]["messages"]) == 1


def test_options_reach_the_request(ip, served, capsys):
    run(ip, capsys, "%%forge openai/gpt-4o --max-tokens 20 --temperature 0.5\nhi")
    body = served.chat_bodies[-1]
    assert body["max_completion_tokens"] == 20 and body["temperature"] == 0.5


@pytest.mark.parametrize(("line", "words"), [
    ("--max-tokens lots", "invalid int value"),
    ("--format html", "invalid choice"),
    ("--temperature 9", "temperature = 9.0 must be a number from 0 to 2"),
    ("openai/nope", "unknown model 'openai/nope'"),
])
def test_bad_options_are_one_line_errors(ip, served, capsys, line, words):
    result, _, _ = run(ip, capsys, f"%%forge {line}\nhi")
    assert words in usage_error(result)
    assert served.chat_bodies == []


def test_provider_errors_are_one_line_and_config_sets_the_time_limit(ip, served, capsys):
    served.providers["openai"].chat_failure = "hang"
    run(ip, capsys, "%config ForgeMagics.chat_timeout_seconds = 0.5")
    result, _, _ = run(ip, capsys, "%%forge openai/gpt-4o\nhi")
    assert "within 0.5 s" in usage_error(result)
    run(ip, capsys, "%config ForgeMagics.chat_timeout_seconds = -1")  # refused, logged
    assert ip.magics_manager.registry["ForgeMagics"].chat_timeout_seconds == 0.5


def test_run_returns_the_reply(ip, served):
    class Args:
        name, continue_, system, max_tokens, temperature, format = (
            "openai/gpt-4o", False, None, None, None, "text")

    forge = ip.magics_manager.registry["ForgeMagics"]
    reply = forge_cell.run(forge, Args(), "hi")
    assert isinstance(reply, Reply) and reply.text == echo_reply("hi")


# -- start-up --------------------------------------------------------------------------
def test_load_ext_imports_nothing_of_chat(tmp_path):
    script = textwrap.dedent("""
        import json, sys
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=config)
        ip.run_line_magic("load_ext", "forge_ipy")
        print(json.dumps({"cell": ip.find_cell_magic("forge") is not None,
                          "chat": sorted(m for m in sys.modules if m.startswith(
                              ("forge_ipy.chat", "openai", "anthropic", "google.genai")))}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={"IPYTHONDIR": str(tmp_path), "PATH": "/usr/bin:/bin",
                               "FORGE_IPY_CONFIG_DIR": str(tmp_path / "c"),
                               "FORGE_IPY_CACHE_DIR": str(tmp_path / "k")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"cell": True, "chat": []}
