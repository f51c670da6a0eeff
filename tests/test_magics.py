"""The IPython extension in a real InteractiveShell, against the loopback server: the magics,
their output and errors, `%config ForgeMagics`, tab completion, and load / unload.

The terminal chooser (`%forge_select` with no name) and the notebook widget have their own tests.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

import forge_ipy
import forge_ipy.ipython as extension
from forge_ipy import cli
from forge_ipy.domain import model_sort_key
from forge_ipy.ipython.completion import forge_matcher
from forge_ipy.ipython.display import ModelTable, TextBlock
from forge_ipy.ipython.magics import ForgeMagics
from forge_ipy.providers.registry import all_specs
from forge_ipy.settings import config_dir
from forge_ipy.testing import FakeModel, LoopbackProviders

MAGICS = ("forge_models", "forge_select", "forge_providers", "forge_cache")
HOSTILE = "<img src=x onerror=alert(1)>"
_real_warm = extension._warm


@pytest.fixture
def shell(tmp_path, monkeypatch) -> Iterator[InteractiveShell]:
    """A fresh InteractiveShell with an in-memory history, torn down after the test.

    The load-time warm-up is switched off so that every request the loopback server sees comes
    from the magic under test; `test_the_warm_up_*` covers the warm-up itself.
    """
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setattr(extension, "_warm", lambda settings: None)
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=config)
    yield ip
    if "forge_ipy" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "forge_ipy")
    InteractiveShell.clear_instance()


@pytest.fixture
def ip(shell) -> InteractiveShell:
    """The shell with `%load_ext forge_ipy` done."""
    shell.run_line_magic("load_ext", "forge_ipy")
    return shell


@pytest.fixture
def served(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    """OpenAI (with a hostile model id), Anthropic, OpenRouter and Ollama, logged in."""
    loopback.add("openai", [FakeModel("gpt-4o-mini"), FakeModel("o3-mini"), FakeModel("gpt-4o"),
                            FakeModel(HOSTILE)])
    loopback.add("anthropic")
    loopback.add("openrouter")
    loopback.add("ollama")
    return serve()


def cell(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], source: str):
    """Run a cell: (result, stdout, stderr)."""
    capsys.readouterr()
    result = ip.run_cell(source)
    out, err = capsys.readouterr()
    return result, out, err


def request_count(server: LoopbackProviders, provider_id: str | None = None) -> int:
    return len(server.requests if provider_id is None else server.requests_for(provider_id))


def state() -> dict:
    return json.loads((config_dir() / "state.json").read_text())


# -- loading ---------------------------------------------------------------------------
def test_load_ext_registers_the_magics_the_matcher_and_the_settings(ip, capsys):
    for name in MAGICS:
        assert ip.find_line_magic(name) is not None, name
    assert ip.Completer.custom_matchers.count(forge_matcher) == 1
    magics = [c for c in ip.configurables if isinstance(c, ForgeMagics)]
    assert len(magics) == 1
    result, out, _ = cell(ip, capsys, "%config ForgeMagics")
    assert result.success
    assert "model_cache_strategy" in out and "provider_timeout_seconds" in out


def test_load_ext_returns_before_any_heavy_import(tmp_path, closed_root):
    """`%load_ext` imports neither httpx nor pydantic itself: the warm-up thread does, after.

    The warm-up is held at a gate so that what `load_ext` imported can be seen on its own;
    then it is let go, and it must import them and fill the shared cache from the network.
    """
    with LoopbackProviders() as server:
        server.add("openai")
        script = textwrap.dedent("""
            import json, sys, threading
            import forge_ipy.ipython as extension
            HEAVY = ("httpx", "pydantic")
            gate, real = threading.Event(), extension._warm
            def gated(settings):
                gate.wait(60)
                real(settings)
            extension._warm = gated
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config
            config = Config()
            config.HistoryManager.hist_file = ":memory:"
            ip = InteractiveShell.instance(config=config)
            before = [m for m in HEAVY if m in sys.modules]
            ip.run_line_magic("load_ext", "forge_ipy")
            after_load = [m for m in HEAVY if m in sys.modules]
            registered = ip.find_line_magic("forge_models") is not None
            warm = [t for t in threading.enumerate() if t.name == "forge-ipy-warm"]
            gate.set()
            for thread in warm:
                thread.join(60)
            after_warm = [m for m in HEAVY if m in sys.modules]
            print(json.dumps({"before": before, "after_load": after_load, "warm": len(warm),
                              "registered": registered, "after_warm": after_warm}))
        """)
        env = {**os.environ, **server.env(),
               "FORGE_OLLAMA_BASE_URL": closed_root, "IPYTHONDIR": str(tmp_path / "ipy")}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report == {"before": [], "after_load": [], "warm": 1, "registered": True,
                          "after_warm": ["httpx", "pydantic"]}
        assert server.requests_for("openai"), "the warm-up fetched nothing"
    cache = json.loads((tmp_path / "cache" / "models.json").read_text())
    assert "openai" in cache["entries"]


def test_the_warm_up_fills_the_kernel_cache_so_the_first_listing_needs_no_request(
        shell, served, monkeypatch):
    monkeypatch.setattr(extension, "_warm", _real_warm)
    shell.run_line_magic("load_ext", "forge_ipy")
    for thread in threading.enumerate():
        if thread.name == "forge-ipy-warm":
            thread.join(30)
    warmed = request_count(served)
    assert warmed >= 4
    table = shell.run_line_magic("forge_models", "")
    assert request_count(served) == warmed
    assert len(table) == 4 + 2 + 2 + 2
    assert all("cached" in s for s in table.states())


# -- %forge_models ---------------------------------------------------------------------
def test_forge_models_groups_by_provider_and_escapes_html(ip, served):
    table = ip.run_line_magic("forge_models", "")
    assert isinstance(table, ModelTable)
    page = table._repr_html_()
    assert HOSTILE not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    groups = re.findall(r'<th colspan="5"[^>]*>([^<]*)</th>', page)
    assert groups == ["Anthropic (2)", "Ollama (2)", "OpenAI (4)", "OpenRouter (2)"]
    # every model sits under its own provider's heading
    sections = dict(zip(groups, re.split(r'<th colspan="5"[^>]*>[^<]*</th>', page)[1:],
                        strict=True))
    assert "gpt-4o-mini" in sections["OpenAI (4)"] and "gpt-4o-mini" not in sections[
        "OpenRouter (2)"]
    assert "llama3.2:latest" in sections["Ollama (2)"]
    assert "claude-haiku-4-5" in sections["Anthropic (2)"]


def test_forge_models_escapes_a_hostile_provider_name(ip, loopback, serve, monkeypatch):
    loopback.add("evil", [FakeModel("m1")], wire="openai", key="evil-key")
    serve()
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.toml").write_text(textwrap.dedent(f"""
        [providers.evil]
        name = "<script>alert(1)</script>"
        kind = "openai"
        base_url = "{loopback.root('evil')}"
        api_key_env = "EVIL_KEY"
    """))
    monkeypatch.setenv("EVIL_KEY", "evil-key")
    page = ip.run_line_magic("forge_models", "-p evil")._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (1)" in page


def test_forge_models_text_is_sorted_and_the_table_iterates_and_filters(ip, served):
    table = ip.run_line_magic("forge_models", "")
    models = list(table)
    assert models == sorted(models, key=model_sort_key)
    assert len(table) == len(models) == 10
    assert table[0].provider_id == "anthropic"
    lines = table.text().splitlines()
    assert lines[0].split()[:2] == ["provider", "model"]
    # provider, then the model id up to the next column gap (ids may hold single spaces)
    rows = [re.match(r"(\S+)\s+(.+?)(?:\s{2,}|$)", line).groups()
            for line in lines[1:len(models) + 1]]
    assert rows == [(m.provider_id, m.id) for m in models]
    assert [m.full_name for m in table.filter("gpt-4o")] == [
        "openai/gpt-4o", "openai/gpt-4o-mini", "openrouter/openai/gpt-4o"]
    assert "openrouter/openai/gpt-4o" in {m.full_name for m in table.filter(tools=True)}
    assert "openrouter/meta-llama/llama-3.3-70b-instruct" not in {
        m.full_name for m in table.filter(tools=True)}
    assert all(m.tools is True for m in table.filter(tools=True))
    only = table.filter(providers=["ollama"])
    assert [m.id for m in only] == ["llama3.2:latest", "qwen2.5-coder:7b"]
    assert [s.split(":")[0] for s in only.states()] == ["Ollama"]


@pytest.mark.parametrize("line, expected, asked", [
    ("-p openai", {"openai/gpt-4o", "openai/gpt-4o-mini", "openai/o3-mini",
                   f"openai/{HOSTILE}"}, {"openai"}),
    ("-p ollama --provider anthropic", {"ollama/llama3.2:latest", "ollama/qwen2.5-coder:7b",
                                        "anthropic/claude-haiku-4-5",
                                        "anthropic/claude-sonnet-4-5"}, {"ollama", "anthropic"}),
    ("-s GPT-4O", {"openai/gpt-4o", "openai/gpt-4o-mini", "openrouter/openai/gpt-4o"}, None),
    ("--search LLAMA3", {"ollama/llama3.2:latest"}, None),
    ("-s ollama", {"ollama/llama3.2:latest", "ollama/qwen2.5-coder:7b"}, None),
    ("-p openrouter --tools", {"openrouter/openai/gpt-4o"}, {"openrouter"}),
    # OpenAI lists no tools; the catalog of model facts says these call them.
    ("--tools -s gpt", {"openai/gpt-4o", "openai/gpt-4o-mini", "openrouter/openai/gpt-4o"},
     None),
])
def test_forge_models_options(ip, served, line, expected, asked):
    table = ip.run_line_magic("forge_models", line)
    assert {m.full_name for m in table} == expected
    requested = {r.provider_id for r in served.requests}
    assert requested == (asked or {"openai", "anthropic", "openrouter", "ollama"})
    if asked:
        assert {s.split(":")[0] for s in table.states()} == {
            all_specs()[p].name for p in asked}


def test_forge_models_refresh_refetches(ip, served):
    ip.run_line_magic("forge_models", "")
    first = request_count(served)
    ip.run_line_magic("forge_models", "")
    assert request_count(served) == first
    ip.run_line_magic("forge_models", "--refresh -p anthropic")
    assert request_count(served) == first + 1
    assert request_count(served, "anthropic") == 2


def test_forge_models_footer_shows_each_provider_state(ip, loopback, serve, capsys):
    loopback.add("openai")
    loopback.add("groq", failure="status:500")
    serve()
    table = ip.run_line_magic("forge_models", "")
    assert table.states() == ["OpenAI: fresh", "Groq: failed: HTTP 500: simulated status 500"]
    again = ip.run_line_magic("forge_models", "")
    assert again.states()[0] == "OpenAI: cached just now"
    assert again.states()[1].startswith("Groq: failed: HTTP 500")
    # One compact state line, the failure set apart for colour.
    assert ('<p class="states">3 models from 1 provider · 1 cached just now · '
            '<span class="failed">groq failed: HTTP 500') in again._repr_html_()
    result, out, _ = cell(ip, capsys, "%forge_models")
    assert result.success
    # A shell that shows HTML gets a one-line text/plain beside it, not a second table.
    assert "Out[0]: 3 models from 1 provider · 1 cached just now · groq failed" in out
    assert "gpt-4o" not in out
    text = again.text()
    assert text.index("gpt-4o") < text.index("3 models from 1 provider · 1 cached")


def test_forge_models_in_a_terminal_prints_the_whole_table(ip, served, capsys):
    ip.display_formatter.active_types = ["text/plain"]  # as TerminalInteractiveShell does
    try:
        result, out, _ = cell(ip, capsys, "%forge_models -p openai")
    finally:
        ip.display_formatter.active_types = list(ip.display_formatter.format_types)
    assert result.success
    assert re.search(r"\nopenai +gpt-4o-mini  ", out)
    assert "\n4 models from 1 provider · 1 fresh" in out


def test_forge_models_for_an_unknown_provider_is_a_usage_error(ip, served, capsys):
    result, _, err = cell(ip, capsys, "%forge_models -p nope")
    assert isinstance(result.error_in_exec, UsageError)
    assert "UsageError: unknown provider nope" in err and "Traceback" not in err
    assert not served.requests


@pytest.mark.parametrize("magic, mentions", [
    ("forge_models", ["-p ID, --provider ID", "--refresh", "--tools", "--all",
                      "-s TEXT, --search TEXT",
                      "grouped by provider"]),
    ("forge_select", ["PROVIDER/MODEL", "Switched to model"]),
    ("forge_cache", ["stats", "clear", "refresh", "--provider"]),
    ("forge_providers", ["key source", "API root"]),
])
def test_question_mark_help_documents_every_option(ip, capsys, magic, mentions):
    result, out, _ = cell(ip, capsys, f"%{magic}?")
    assert result.success
    for text in mentions:
        assert text in out, text


# -- %forge_select and current() -------------------------------------------------------
def test_forge_select_switches_model_and_provider_together(ip, served, capsys):
    result, out, _ = cell(ip, capsys, "%forge_select openai/gpt-4o")
    assert result.success and out == "Switched to model: gpt-4o on provider: OpenAI\n"
    assert (state()["provider_id"], state()["model"]) == ("openai", "gpt-4o")

    result, out, _ = cell(ip, capsys, "%forge_select o3-mini")  # bare; same provider
    assert result.success and out == "Switched to model: o3-mini\n"
    assert (state()["provider_id"], state()["model"]) == ("openai", "o3-mini")

    result, out, _ = cell(ip, capsys, "%forge_select llama3.2:latest")  # bare; switches
    assert result.success and out == "Switched to model: llama3.2:latest on provider: Ollama\n"
    assert (state()["provider_id"], state()["model"]) == ("ollama", "llama3.2:latest")

    result, out, _ = cell(ip, capsys, "%forge_select openrouter/openai/gpt-4o")
    assert out == "Switched to model: openai/gpt-4o on provider: OpenRouter\n"
    assert (state()["provider_id"], state()["model"]) == ("openrouter", "openai/gpt-4o")


def test_current_reflects_the_selection_and_never_holds_the_key(ip, served, capsys):
    assert forge_ipy.current() is None
    ip.run_line_magic("forge_models", "")
    cell(ip, capsys, "%forge_select claude-sonnet-4-5")
    now = forge_ipy.current()
    assert (now.provider_id, now.provider_name, now.model) == (
        "anthropic", "Anthropic", "claude-sonnet-4-5")
    assert now.full_name == "anthropic/claude-sonnet-4-5"
    assert now.api_root == served.root("anthropic")
    assert now.info is not None
    assert (now.info.id, now.info.context_length, now.info.max_output_tokens) == (
        "claude-sonnet-4-5", 200000, 64000)
    key = served.providers["anthropic"].key
    assert key and key not in repr(now) and key not in str(now)


@pytest.mark.parametrize("line, reason, matches", [
    ("%forge_select shared", "several providers", ["deepseek/shared", "openai/shared"]),
    ("%forge_select gpt4o", "unknown model", ["openai/gpt-4o"]),
    ("%forge_select openai/gpt-4", "unknown model", ["openai/gpt-4o", "openai/gpt-4o-mini"]),
    ("%forge_select gemini/gemini-2.5-pro", "gemini is not logged in", ["GEMINI_API_KEY"]),
])
def test_forge_select_refuses_with_a_one_line_usage_error(ip, loopback, serve, capsys, line,
                                                          reason, matches):
    loopback.add("openai", [FakeModel("gpt-4o"), FakeModel("gpt-4o-mini"), FakeModel("shared")])
    loopback.add("deepseek", [FakeModel("shared")])
    serve()
    result, out, err = cell(ip, capsys, line)
    assert isinstance(result.error_in_exec, UsageError)
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("UsageError: ")
    assert reason in lines[0]
    for match in matches:
        assert match in lines[0]
    assert not (config_dir() / "state.json").exists()


# -- nobody logged in, everyone down, no terminal ---------------------------------------
@pytest.mark.parametrize("line", ["%forge_models", "%forge_select gpt-4o",
                                  "%forge_cache refresh"])
def test_nobody_logged_in_says_how_to_log_in(ip, capsys, line):
    result, _, err = cell(ip, capsys, line)
    assert isinstance(result.error_in_exec, UsageError)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "not logged in to any provider. Set a key such as OPENAI_API_KEY, or run " \
           "`forge-ipy login PROVIDER`;" in lines[0]


def test_forge_providers_with_nobody_logged_in_ends_with_how_to_log_in(ip):
    text = ip.run_line_magic("forge_providers", "").text
    assert text.splitlines()[-1] == (
        "not logged in to any provider. Set a key such as OPENAI_API_KEY, or run "
        "`forge-ipy login PROVIDER`; %forge_providers lists them.")


def test_every_provider_down_gives_the_real_cause_not_unknown_model(ip, loopback, serve,
                                                                   capsys):
    loopback.add("openai", failure="status:500")
    loopback.add("anthropic", failure="status:401")
    serve()
    result, _, err = cell(ip, capsys, "%forge_select openai/gpt-4o")
    assert isinstance(result.error_in_exec, UsageError)
    assert "unknown model" not in err
    assert err.startswith("UsageError: cannot check 'openai/gpt-4o': every provider failed: "
                          "openai: HTTP 500") and "; anthropic: HTTP 401" in err


def test_forge_select_without_a_terminal_is_one_line(ip, served, capsys):
    result, out, err = cell(ip, capsys, "%forge_select")
    assert isinstance(result.error_in_exec, UsageError)
    assert out == "" and "Traceback" not in err
    assert err.strip() == ("UsageError: give a model: %forge_select PROVIDER/MODEL (no "
                           "terminal here to open the chooser in); %forge_models lists them")


def test_completion_with_a_broken_config_gives_nothing_not_a_traceback(ip, served, capsys):
    ip.run_line_magic("forge_models", "")
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.toml").write_text("model_cache_strategy = [unclosed\n")
    assert completed(ip, "%forge_select gp") == []
    assert completed(ip, "%forge_models -p op") == []
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err


# -- completion ------------------------------------------------------------------------
def completed(ip: InteractiveShell, line: str) -> list[str]:
    """The lines that accepting each completion offered at the end of `line` would give."""
    with provisionalcompleter():
        return [line[:c.start] + c.text + line[c.end:]
                for c in ip.Completer.completions(line, len(line))]


@pytest.mark.parametrize("line, expected", [
    ("%forge_select gp", ["%forge_select openai/gpt-4o", "%forge_select openai/gpt-4o-mini"]),
    ("%forge_select openai/gpt-4o-", ["%forge_select openai/gpt-4o-mini"]),
    ("%forge_select ollama/llama3.2:", ["%forge_select ollama/llama3.2:latest"]),
    ("%forge_select ollama/llama3.2:la", ["%forge_select ollama/llama3.2:latest"]),
    ("%forge_select llama3.2:l", ["%forge_select ollama/llama3.2:latest"]),
    ("%forge_select qwen2.5-coder:", ["%forge_select ollama/qwen2.5-coder:7b"]),
    ("%forge_select openrouter/openai/g", ["%forge_select openrouter/openai/gpt-4o"]),
    ("%forge_select ant", ["%forge_select anthropic/claude-haiku-4-5",
                           "%forge_select anthropic/claude-sonnet-4-5"]),
    ("%forge_models -p op", ["%forge_models -p openai", "%forge_models -p openrouter"]),
    ("%forge_models --tools --provider ol", ["%forge_models --tools --provider ollama"]),
    ("%forge_cache clear -p anth", ["%forge_cache clear -p anthropic"]),
])
def test_completion_offers_full_names_and_provider_ids(ip, served, line, expected):
    ip.run_line_magic("forge_models", "")
    assert sorted(completed(ip, line)) == sorted(expected)


def test_completion_also_works_through_the_legacy_complete_api(ip, served):
    ip.run_line_magic("forge_models", "")
    with warnings.catch_warnings():  # the API ipykernel falls back on is pending deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        fragment, matches = ip.complete("", "%forge_select llama3.2:l")
    assert fragment == "llama3.2:l"
    assert matches == ["ollama/llama3.2:latest"]


def test_completion_never_offers_a_name_that_would_add_a_line_of_code(ip, loopback, serve):
    loopback.add("openai", [FakeModel("gpt-4o"), FakeModel("gpt-x\nimport os; os.system('id')"),
                            FakeModel("gpt-\x1b[2Jclear")])
    serve()
    ip.run_line_magic("forge_models", "")
    assert completed(ip, "%forge_select gp") == ["%forge_select openai/gpt-4o"]


def test_a_usage_error_quoting_a_name_shows_its_control_characters_escaped(ip, served, capsys):
    result, _, err = cell(ip, capsys, "%forge_select openai/nope\x1b[2J\x07")
    assert isinstance(result.error_in_exec, UsageError)
    assert "\x1b" not in err and "\x07" not in err
    assert "nope\\x1b[2J\\x07" in err


def test_completion_reads_the_cache_only(ip, served):
    assert completed(ip, "%forge_select gp") == []
    assert not served.requests
    assert completed(ip, "%forge_models -p ge") == ["%forge_models -p gemini"]


def test_completion_leaves_other_lines_alone(ip, served):
    ip.run_line_magic("forge_models", "")
    ip.user_ns["forge_value"] = 1
    assert "forge_value" in completed(ip, "forge_v")


# -- %config ForgeMagics ---------------------------------------------------------------
def test_config_strategy_fresh_takes_effect_on_the_next_call(ip, served, capsys):
    ip.run_line_magic("forge_models", "")
    first = request_count(served)
    ip.run_line_magic("forge_models", "")
    assert request_count(served) == first  # moderate, within the TTL: served from cache
    result, _, _ = cell(ip, capsys, '%config ForgeMagics.model_cache_strategy = "fresh"')
    assert result.success
    ip.run_line_magic("forge_models", "")
    assert request_count(served) == 2 * first
    assert {r.provider_id for r in served.requests[first:]} == {
        "openai", "anthropic", "openrouter", "ollama"}


@pytest.mark.parametrize("name, bad, allowed", [
    ("model_cache_strategy", '"sometimes"', "aggressive, moderate, fresh"),
    ("model_cache_refresh", '"later"', "background, block"),
    ("model_cache_ttl_seconds", "-5", "above 0"),
    ("provider_timeout_seconds", "0", "above 0"),
    ("provider_timeout_seconds", "1e300", "at most 3600"),
    ("model_cache_ttl_seconds", "True", "expected a float"),
    ("model_facts_url", '"models.dev"', "http(s):// URL"),
])
def test_config_refuses_a_bad_value_and_keeps_the_previous_one(ip, capsys, caplog, name, bad,
                                                               allowed):
    good = {"model_cache_strategy": '"aggressive"', "model_cache_refresh": '"block"',
            "model_cache_ttl_seconds": "120", "provider_timeout_seconds": "3",
            "model_facts_url": '"off"'}[name]
    magics = ip.magics_manager.registry["ForgeMagics"]
    assert cell(ip, capsys, f"%config ForgeMagics.{name} = {good}")[0].success
    kept = getattr(magics, name)
    assert kept == json.loads(good)
    caplog.clear()
    cell(ip, capsys, f"%config ForgeMagics.{name} = {bad}")
    assert getattr(magics, name) == kept
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert name in messages and allowed in messages
    assert magics.settings()[name] == kept

    # the refused value must not come back on reload either
    result, _, err = cell(ip, capsys, "%reload_ext forge_ipy")
    assert result.success, err
    reloaded = ip.magics_manager.registry["ForgeMagics"]
    assert reloaded is not magics and getattr(reloaded, name) == kept


def test_a_bad_value_in_the_shell_config_does_not_stop_loading(shell, caplog):
    shell.config.ForgeMagics.model_cache_strategy = "sometimes"
    shell.config.ForgeMagics.provider_timeout_seconds = 4.0
    shell.run_line_magic("load_ext", "forge_ipy")
    magics = shell.magics_manager.registry["ForgeMagics"]
    assert magics.model_cache_strategy is None
    assert magics.provider_timeout_seconds == 4.0
    assert any("model_cache_strategy" in r.getMessage() for r in caplog.records)


# -- %forge_cache and %forge_providers -------------------------------------------------
def test_forge_cache_stats_clear_refresh(ip, served, capsys):
    stats = ip.run_line_magic("forge_cache", "")
    assert isinstance(stats, TextBlock)
    assert "(absent)" in stats.text and "no cached lists" in stats.text
    ip.run_line_magic("forge_models", "")
    stats = ip.run_line_magic("forge_cache", "stats").text
    assert re.search(r"^openai\s+4\s", stats, re.M) and re.search(r"^ollama\s+2\s", stats, re.M)
    assert "misses 4" in stats and "refreshes 4" in stats
    assert "bytes)" in stats and "<pre>" in ip.run_line_magic("forge_cache", "")._repr_html_()

    before = request_count(served)
    refreshed = ip.run_line_magic("forge_cache", "refresh -p openai")
    assert refreshed.text == "Refreshed 1 provider, 4 models."
    assert request_count(served) == before + 1 and request_count(served, "openai") == 2

    assert ip.run_line_magic("forge_cache", "clear -p openai").text == \
        "Cleared 1 cached provider list."
    assert ip.run_line_magic("forge_cache", "clear").text == "Cleared 3 cached provider lists."
    assert "no cached lists" in ip.run_line_magic("forge_cache", "stats").text

    result, _, err = cell(ip, capsys, "%forge_cache wipe")
    assert isinstance(result.error_in_exec, UsageError) and "Traceback" not in err


def test_forge_providers_says_where_credentials_came_from_as_the_cli_does(
        ip, loopback, serve, capsys, monkeypatch):
    from forge_ipy import cli

    loopback.add("bedrock")
    serve()
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-in-a-cell")
    rows = ip.run_line_magic("forge_providers", "").text.splitlines()
    capsys.readouterr()
    cli.main(["providers"])
    cli_rows = capsys.readouterr().out.splitlines()

    for pid, expected in (("bedrock", "aws:env"),
                          ("azure", "env:AZURE_OPENAI_API_KEY (set AZURE_OPENAI_ENDPOINT)")):
        [magic_row] = [r for r in rows if r.startswith(pid + " ")]
        [cli_row] = [r for r in cli_rows if r.startswith(pid + " ")]
        assert expected in magic_row and expected in cli_row
    assert "azure-key-in-a-cell" not in "\n".join(rows)


def test_forge_providers_lists_every_provider_with_source_root_and_state(
        ip, loopback, serve, capsys):
    loopback.add("openai")
    loopback.add("groq", failure="status:500")
    serve()
    ip.run_line_magic("forge_models", "")
    block = ip.run_line_magic("forge_providers", "")
    assert isinstance(block, TextBlock)
    header, *rows = block.text.splitlines()
    assert header.split()[:2] == ["id", "name"] and "API root" in header
    by_id = {row.split()[0]: row for row in rows}
    assert set(by_id) == set(all_specs())
    assert "env:OPENAI_API_KEY" in by_id["openai"] and loopback.root("openai") in by_id["openai"]
    assert "cached just now" in by_id["openai"]
    assert "failed: HTTP 500" in by_id["groq"]
    assert "  no  " in by_id["gemini"]
    for provider in loopback.providers.values():
        assert provider.key not in block.text
    result, out, _ = cell(ip, capsys, "%forge_providers")
    assert result.success and "env:GROQ_API_KEY" in out

    # The CLI asks the same service and draws the same table.
    assert cli.main(["providers"]) == 0
    assert capsys.readouterr().out == block.text + "\n"


# -- unload and reload -----------------------------------------------------------------
def test_unload_removes_everything_and_reload_restores_it(ip, served, capsys):
    ip.run_line_magic("unload_ext", "forge_ipy")
    for name in MAGICS:
        assert ip.find_line_magic(name) is None, name
    assert forge_matcher not in ip.Completer.custom_matchers
    assert not any(isinstance(c, ForgeMagics) for c in ip.configurables)
    assert "ForgeMagics" not in ip.magics_manager.registry
    result, _, err = cell(ip, capsys, "%forge_models")
    assert result.error_in_exec is not None and "forge_models" in err

    ip.run_line_magic("load_ext", "forge_ipy")
    cell(ip, capsys, "%reload_ext forge_ipy")
    assert ip.Completer.custom_matchers.count(forge_matcher) == 1
    assert sum(isinstance(c, ForgeMagics) for c in ip.configurables) == 1
    result, out, _ = cell(ip, capsys, "%forge_select gpt-4o")
    assert result.success and out == "Switched to model: gpt-4o on provider: OpenAI\n"
    assert "%forge_select openai/gpt-4o" in completed(ip, "%forge_select gpt-4o")


@pytest.mark.parametrize("keys, selected", [
    ("claude-haiku\r", ("anthropic", "claude-haiku-4-5")),  # type to filter, Enter picks
    ("\x03", None),  # Ctrl-C: nothing changes
])
def test_bare_forge_select_in_a_terminal_opens_the_chooser(ip, served, capsys, monkeypatch,
                                                           keys, selected):
    """The real prompt_toolkit chooser, fed through a pipe as a terminal would."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from forge_ipy.ipython import chooser, magics

    monkeypatch.setattr(magics, "_has_terminal", lambda: True)
    with create_pipe_input() as pipe:
        monkeypatch.setattr(chooser, "choose_model", functools.partial(
            chooser.choose_model, input=pipe, output=DummyOutput()))
        pipe.send_text(keys)
        result, out, _ = cell(ip, capsys, "%forge_select")

    assert result.success
    if selected is None:
        assert "Switched" not in out and not (config_dir() / "state.json").exists()
    else:
        assert out.endswith(f"Switched to model: {selected[1]} on provider: Anthropic\n")
        assert (state()["provider_id"], state()["model"]) == selected


def test_forge_models_shows_progress_while_a_provider_is_slow(ip, loopback, serve, capsys):
    """Which providers are done and which are still waiting, while the fetch runs."""
    loopback.add("openai")
    loopback.add("anthropic", latency=0.6)
    serve()
    result, out, _ = cell(ip, capsys, "%forge_models")
    assert result.success
    progress = [line for line in out.splitlines() if line.startswith("Fetching models")]
    assert progress, out
    assert any("openai (3)" in line and "waiting: anthropic" in line for line in progress)
    assert len(result.result) == 5  # and then the whole list


@pytest.mark.parametrize("line, expected", [
    ('%forge_select "openai/gpt-4o"', "Switched to model: gpt-4o on provider: OpenAI\n"),
    ("%forge_select 'o3-mini'", "Switched to model: o3-mini on provider: OpenAI\n"),
])
def test_quoted_arguments_are_unquoted(ip, served, capsys, line, expected):
    assert cell(ip, capsys, line)[1] == expected


def test_a_quoted_search_and_an_unclosed_quote(ip, served, capsys):
    table = ip.run_line_magic("forge_models", '-s "gpt-4o"')
    assert {m.full_name for m in table} >= {"openai/gpt-4o", "openai/gpt-4o-mini"}
    result, _, err = cell(ip, capsys, "%forge_models -s 'unclosed")
    assert not result.success and "UsageError" in err and "Traceback" not in err


@pytest.fixture
def mixed(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    """Together with a chat and an embedding model, Groq with whisper and a retired model."""
    loopback.add("together", [FakeModel("BAAI/bge-large-en-v1.5", chat=False),
                              FakeModel("meta-llama/Llama-3.3-70B-Instruct-Turbo")])
    loopback.add("groq", [FakeModel("llama-3.3-70b-versatile", tools=True),
                          FakeModel("whisper-large-v3", kind="audio"),
                          FakeModel("gemma2-9b-it", status="retired")])
    return serve()


CHAT = ["groq/llama-3.3-70b-versatile", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"]


def test_forge_models_shows_chat_models_and_all_every_kind(ip, mixed):
    table = ip.run_line_magic("forge_models", "")
    assert [m.full_name for m in table] == CHAT
    assert "<th>kind</th>" not in table._repr_html_()

    everything = ip.run_line_magic("forge_models", "--all")
    assert len(everything) == 5
    assert "<th>kind</th>" in everything._repr_html_()
    lines = everything.text().splitlines()
    assert lines[0].split()[:3] == ["provider", "model", "kind"]
    assert any(line.split()[1:3] == ["whisper-large-v3", "audio"] for line in lines)
    # narrowing a table of every kind keeps every kind
    assert [m.id for m in everything.filter("bge")] == ["BAAI/bge-large-en-v1.5"]
    # Groq's model says it calls tools; the catalog says Together's Llama 3.3 does
    assert [m.full_name for m in ip.run_line_magic("forge_models", "--tools")] == CHAT


@pytest.mark.parametrize("name, says", [
    ("together/BAAI/bge-large-en-v1.5", "is an embedding model, not a chat model"),
    ("groq/gemma2-9b-it", "is retired"),
])
def test_forge_select_refuses_a_model_that_is_not_a_chat_model(ip, mixed, capsys, name, says):
    result, out, err = cell(ip, capsys, f"%forge_select {name}")
    assert not result.success and "Traceback" not in out + err
    assert says in out + err
    assert not (config_dir() / "state.json").exists()


def test_completion_offers_chat_models_only(ip, mixed):
    ip.run_line_magic("forge_models", "")  # fills the cache
    assert completed(ip, "%forge_select groq/") == ["%forge_select groq/llama-3.3-70b-versatile"]


def test_the_terminal_chooser_offers_chat_models_only(ip, mixed, capsys, monkeypatch):
    from forge_ipy.ipython import chooser, magics

    offered = []
    monkeypatch.setattr(magics, "_has_terminal", lambda: True)
    monkeypatch.setattr(chooser, "choose_model", lambda listing, *args, **kwargs:
                        offered.extend(m.full_name for m in listing) or None)
    cell(ip, capsys, "%forge_select")
    assert offered == CHAT
