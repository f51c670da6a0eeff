"""The `forge-ipy` command against the loopback server: what it prints, where, and its exit codes.

Most tests call `forge_ipy.cli.main([...])` in-process; a few run the real console script.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import forge_ipy
from forge_ipy import cli, credentials
from forge_ipy.domain import ERROR_KINDS
from forge_ipy.formatting import PORCELAIN_COLUMNS
from forge_ipy.providers.registry import all_specs
from forge_ipy.settings import cache_dir, config_dir
from forge_ipy.testing import FakeModel, LoopbackProviders

MODEL_KEYS = {"provider_id", "id", "name", "context_length", "max_output_tokens", "tools",
              "input_price", "output_price"}
PROVIDER_KEYS = {"id", "name", "ok", "model_count", "from_cache", "age_seconds", "error_kind",
                 "error"}
SECRET = "test-SECRET-do-not-print-7f3a9c1e"  # not shaped like a real key


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`forge-ipy ARGV...` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[list[str]]:
    """The cells of a text table, header included (cells never contain spaces here)."""
    return [line.split() for line in out.splitlines() if line.strip()]


@pytest.fixture
def logged(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    """OpenAI (models deliberately unsorted), Anthropic and OpenRouter, logged in."""
    loopback.add("openai", [FakeModel("o3-mini"), FakeModel("gpt-4o"), FakeModel("GPT-4"),
                            FakeModel("gpt-4o-mini")])
    loopback.add("anthropic")
    loopback.add("openrouter")
    return serve()


def requests_by_provider(server: LoopbackProviders) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in list(server.requests):
        counts[request.provider_id] = counts.get(request.provider_id, 0) + 1
    return counts


# -- models ----------------------------------------------------------------------------
def test_models_table_is_sorted_by_provider_then_model_with_a_provider_column(logged, capsys):
    code, out, err = run(capsys, "models")
    assert code == 0
    header, *rows = table_rows(out)
    assert header[:2] == ["provider", "model"]
    pairs = [(row[0], row[1]) for row in rows]
    assert pairs == sorted(pairs, key=lambda p: (p[0], p[1].lower()))
    assert {p for p, _ in pairs} == {"anthropic", "openai", "openrouter"}
    assert ("openai", "GPT-4") in pairs and ("openrouter", "openai/gpt-4o") in pairs
    assert "models from 3 providers" in err


def test_a_failed_provider_is_reported_on_stderr_while_the_rest_print(loopback, serve, capsys):
    loopback.add("openai")
    loopback.add("groq", failure="status:503")
    serve()
    code, out, err = run(capsys, "models")
    assert code == 0
    assert "gpt-4o" in out
    assert "groq" not in out
    failure = [line for line in err.splitlines() if line.startswith("groq:")]
    assert len(failure) == 1 and "HTTP 503" in failure[0]


def test_every_provider_failing_exits_non_zero(loopback, serve, capsys):
    loopback.add("openai", failure="status:500")
    serve()
    code, out, err = run(capsys, "models")
    assert code != 0
    assert "openai: failed: HTTP 500" in err
    assert out == ""  # no header over no rows


@pytest.mark.parametrize("fmt", ["table", "--json", "--porcelain"])
def test_provider_option_limits_the_fetch_and_the_output(loopback, serve, capsys, fmt):
    for pid in ("openai", "anthropic", "gemini", "mistral"):
        loopback.add(pid)
    serve()
    argv = ["models", "--provider", "openai", "-p", "gemini"] + ([] if fmt == "table" else [fmt])
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert set(requests_by_provider(loopback)) == {"openai", "gemini"}
    if fmt == "--json":
        doc = json.loads(out)
        assert {p["id"] for p in doc["providers"]} == {"openai", "gemini"}
        shown = {m["provider_id"] for m in doc["models"]}
    elif fmt == "--porcelain":
        shown = {line.split("\t")[0] for line in out.splitlines()[1:]}
    else:
        shown = {row[0] for row in table_rows(out)[1:]}
    assert shown == {"openai", "gemini"}


def test_json_document_has_the_documented_shape(loopback, serve, capsys):
    loopback.add("openrouter")  # prices and tools
    loopback.add("anthropic")  # context and output limits
    loopback.add("groq", failure="status:500")
    serve()
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"models", "providers"}
    assert doc["models"], "expected models"
    for model in doc["models"]:
        assert set(model) >= MODEL_KEYS
        assert isinstance(model["provider_id"], str) and isinstance(model["id"], str)
        assert isinstance(model["name"], str)
        for key in ("context_length", "max_output_tokens"):
            assert model[key] is None or isinstance(model[key], int)
        assert model["tools"] in (True, False, None)
        for key in ("input_price", "output_price"):
            assert model[key] is None or isinstance(model[key], int | float)
    gpt = next(m for m in doc["models"] if m["provider_id"] == "openrouter"
               and m["id"] == "openai/gpt-4o")
    assert (gpt["input_price"], gpt["output_price"], gpt["tools"]) == (2.5, 10.0, True)
    assert gpt["context_length"] == 128000
    keys = [(m["provider_id"], m["id"].lower()) for m in doc["models"]]
    assert keys == sorted(keys)

    providers = {p["id"]: p for p in doc["providers"]}
    assert set(providers) == {"openrouter", "anthropic", "groq"}
    for provider in providers.values():
        assert set(provider) >= PROVIDER_KEYS
        assert provider["error_kind"] is None or provider["error_kind"] in ERROR_KINDS
        assert provider["age_seconds"] is None or provider["age_seconds"] >= 0
        assert provider["error"] is None or "\n" not in provider["error"]
    ok = providers["anthropic"]
    assert (ok["ok"], ok["model_count"], ok["error_kind"], ok["error"]) == (True, 2, None, None)
    assert ok["name"] == "Anthropic" and isinstance(ok["from_cache"], bool)
    failed = providers["groq"]
    assert (failed["ok"], failed["model_count"], failed["error_kind"]) == (False, 0, "http")
    assert "500" in failed["error"]


def test_porcelain_is_tab_separated_with_a_header_and_sorted(logged, capsys):
    code, out, _ = run(capsys, "models", "--porcelain")
    assert code == 0
    header, *rows = [line.split("\t") for line in out.splitlines()]
    assert header[:2] == ["provider", "model"]
    assert {"context_length", "tools", "input_price", "output_price"} <= set(header)
    assert all(len(row) == len(header) for row in rows)
    keys = [(row[0], row[1].lower()) for row in rows]
    assert keys == sorted(keys) and len(keys) == 4 + 2 + 2
    cells = dict(zip(header, next(r for r in rows if r[1] == "openai/gpt-4o"), strict=True))
    assert cells["provider"] == "openrouter"
    assert (cells["input_price"], cells["output_price"], cells["tools"]) == ("2.5", "10.0", "true")


def test_refresh_refetches_while_a_plain_call_serves_the_cache(logged, capsys):
    assert run(capsys, "models")[0] == 0
    first = len(logged.requests)
    assert first >= 3
    assert run(capsys, "models")[0] == 0
    assert len(logged.requests) == first  # a valid cache: no new request
    assert run(capsys, "models", "--refresh")[0] == 0
    assert requests_by_provider(logged) == {"openai": 2, "anthropic": 2, "openrouter": 2}


@pytest.mark.parametrize("argv, rows, summary", [
    (["models", "-s", "GPT-4O"], [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"),
                                  ("openrouter", "openai/gpt-4o")],
     "3 models from 2 providers"),
    (["models", "--search", "haiku"], [("anthropic", "claude-haiku-4-5")],
     "1 model from 1 provider"),
    (["models", "--tools", "-p", "openrouter"], [("openrouter", "openai/gpt-4o")],
     "1 model from 1 provider"),
])
def test_models_search_and_tools_as_the_magic_does(logged, capsys, argv, rows, summary):
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert [(row[0], row[1]) for row in table_rows(out)[1:]] == rows
    assert err.strip() == summary


def test_a_refresh_that_brings_new_models_names_them(logged, capsys):
    assert run(capsys, "models")[0] == 0
    logged.providers["openai"].models.append(FakeModel("gpt-5"))
    code, _, err = run(capsys, "models", "--refresh")
    assert code == 0 and "1 new: openai/gpt-5" in err
    logged.providers["openai"].models.append(FakeModel("gpt-6"))
    code, out, _ = run(capsys, "cache", "refresh", "-p", "openai")
    assert out == "Refreshed 1 provider, 6 models.\n1 new: openai/gpt-6\n"


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"forge-ipy {forge_ipy.__version__}\n"


def test_select_without_a_name_and_no_terminal_is_one_line(logged, capsys):
    code, out, err = run(capsys, "select")
    assert code == 1 and out == ""
    assert err == ("forge-ipy: give a model, e.g. `forge-ipy select openai/gpt-4o` (the "
                   "chooser needs a terminal); `forge-ipy models` lists them\n")


def test_cache_refresh_with_nobody_logged_in_says_so(capsys):
    code, out, err = run(capsys, "cache", "refresh")
    assert code == 0 and out == ""
    assert err.startswith("forge-ipy: not logged in to any provider")
    assert run(capsys, "cache", "refresh", "--quiet") == (0, "", "")


@pytest.mark.parametrize("argv, hint", [
    (["models"], "OPENAI_API_KEY"),
    (["models", "-p", "gemini"], "Set GEMINI_API_KEY, or run `forge-ipy login gemini`"),
    (["models", "-p", "ollama"], "is not running at"),
])
def test_nobody_logged_in_says_how_to_log_in(capsys, argv, hint):
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert out == ""
    assert hint in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["--json", "--porcelain"])
def test_nobody_logged_in_still_gives_scripts_a_parsable_document(capsys, fmt):
    code, out, err = run(capsys, "models", fmt)
    assert code == 0
    if fmt == "--json":
        assert json.loads(out) == {"models": [], "providers": []}
    else:
        assert out == "\t".join(PORCELAIN_COLUMNS) + "\n"
    assert "forge-ipy login" in err


@pytest.mark.parametrize("argv", [
    ["models", "--provider", "nope"],
    ["models", "-p", "openai", "-p", "nope"],
    ["login", "nope"],
    ["logout", "nope"],
    ["cache", "clear", "-p", "nope"],
    ["cache", "refresh", "-p", "nope"],
])
def test_unknown_provider_is_a_one_line_error(logged, capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "unknown provider" in lines[0] and "nope" in lines[0] and "openai" in lines[0]
    assert "Traceback" not in err
    assert not logged.requests


# -- providers -------------------------------------------------------------------------
def test_providers_lists_every_known_provider_with_key_source_and_root(logged, capsys):
    code, out, _ = run(capsys, "providers")
    assert code == 0
    header, *rows = out.splitlines()
    assert "logged in" in header and "API root" in header
    by_id = {line.split()[0]: line for line in rows}
    assert set(by_id) == set(all_specs())
    assert "  yes  " in by_id["openai"] and "env:OPENAI_API_KEY" in by_id["openai"]
    assert logged.root("openai") in by_id["openai"]
    assert "  no  " in by_id["gemini"] and "GEMINI_API_KEY" in by_id["gemini"]
    assert "https://generativelanguage.googleapis.com/v1beta" in by_id["gemini"]
    for provider in logged.providers.values():
        assert provider.key not in out


def test_providers_json_shows_the_source_of_a_stored_key_never_the_key(capsys, monkeypatch):
    credentials.save_key("mistral", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET + "-env")
    code, out, err = run(capsys, "providers", "--json")
    assert code == 0
    rows = {row["id"]: row for row in json.loads(out)}
    assert set(rows) == set(all_specs())
    assert rows["mistral"]["logged_in"] is True and rows["mistral"]["key_source"] == "store"
    assert rows["openai"]["key_source"] == "env:OPENAI_API_KEY"
    assert rows["openai"]["api_root"] == "https://api.openai.com/v1"
    assert rows["groq"]["logged_in"] is False
    assert SECRET not in out + err


# -- select / current ------------------------------------------------------------------
def state() -> dict:
    return json.loads((config_dir() / "state.json").read_text())


def test_select_switches_provider_and_model_together(logged, capsys):
    code, out, _ = run(capsys, "select", "openai/gpt-4o")
    assert (code, out) == (0, "Switched to model: gpt-4o on provider: OpenAI\n")
    assert (state()["provider_id"], state()["model"]) == ("openai", "gpt-4o")

    code, out, _ = run(capsys, "select", "openai/o3-mini")  # same provider: no provider part
    assert (code, out) == (0, "Switched to model: o3-mini\n")

    code, out, _ = run(capsys, "select", "claude-haiku-4-5")  # bare, unambiguous
    assert (code, out) == (0, "Switched to model: claude-haiku-4-5 on provider: Anthropic\n")
    assert (state()["provider_id"], state()["model"]) == ("anthropic", "claude-haiku-4-5")


def test_select_an_openrouter_id_splits_at_the_first_slash(logged, capsys):
    code, out, _ = run(capsys, "select", "openrouter/openai/gpt-4o")
    assert code == 0 and "on provider: OpenRouter" in out
    assert (state()["provider_id"], state()["model"]) == ("openrouter", "openai/gpt-4o")


@pytest.mark.parametrize("name, expected", [
    ("shared-model", ["deepseek/shared-model", "openai/shared-model"]),  # ambiguous
    ("gpt-4", ["openai/gpt-4o"]),  # unknown: close matches
    ("openai/gpt4o", ["openai/gpt-4o"]),
])
def test_select_an_ambiguous_or_unknown_name_lists_close_matches(loopback, serve, capsys, name,
                                                                 expected):
    loopback.add("openai", [FakeModel("gpt-4o"), FakeModel("shared-model")])
    loopback.add("deepseek", [FakeModel("shared-model")])
    serve()
    code, out, err = run(capsys, "select", name)
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert all(match in lines[0] for match in expected), lines[0]
    assert not (config_dir() / "state.json").exists()


def test_select_refuses_a_provider_that_is_not_logged_in(logged, capsys):
    code, out, err = run(capsys, "select", "gemini/gemini-2.5-pro")
    assert code != 0 and out == ""
    assert "gemini is not logged in" in err and "GEMINI_API_KEY" in err
    assert len(err.strip().splitlines()) == 1
    assert not (config_dir() / "state.json").exists()


def test_current_json_is_null_then_the_selection(logged, capsys):
    assert run(capsys, "current", "--json") == (0, "null\n", "")
    code, _, err = run(capsys, "current")
    assert code == 0 and "forge-ipy select" in err
    assert run(capsys, "select", "openai/gpt-4o")[0] == 0
    code, out, _ = run(capsys, "current", "--json")
    assert code == 0
    assert json.loads(out) == {"provider_id": "openai", "model": "gpt-4o"}
    assert run(capsys, "current")[1] == "openai/gpt-4o\n"


# -- login / logout --------------------------------------------------------------------
class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "terminal"])
def test_login_stores_the_key_privately_and_logout_removes_it(capsys, monkeypatch, tty):
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", _Stdin("" if tty else SECRET + "\n", tty))
    code, out, err = run(capsys, "login", "openai", "--no-check")
    assert code == 0 and out == "Saved the OpenAI key.\n"
    assert SECRET not in out + err
    assert (len(prompts) == 1 and SECRET not in prompts[0]) if tty else not prompts
    store = credentials.store_path()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert json.loads(store.read_text()) == {"openai": SECRET}

    code, out, err = run(capsys, "providers")
    line = next(row for row in out.splitlines() if row.startswith("openai "))
    assert "  yes  " in line and "store" in line and SECRET not in out + err

    code, out, _ = run(capsys, "logout", "openai")
    assert code == 0 and "Removed" in out
    assert "openai" not in json.loads(store.read_text())
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "logout", "openai")
    assert code == 0 and "No saved" in out


def test_login_with_no_key_saves_nothing(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin("\n", False))
    code, out, err = run(capsys, "login", "anthropic")
    assert code != 0 and out == "" and "no key given" in err
    assert not credentials.store_path().exists()


def test_login_to_a_keyless_provider_needs_no_key(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin(SECRET + "\n", False))
    code, _, err = run(capsys, "login", "ollama")
    assert code == 0 and "needs no key" in err
    assert not credentials.store_path().exists()


def test_a_stored_key_logs_the_provider_in(loopback, serve, capsys, monkeypatch):
    provider = loopback.add("mistral")
    serve()
    monkeypatch.delenv("MISTRAL_API_KEY")
    assert run(capsys, "models")[2].startswith("forge-ipy: not logged in")
    monkeypatch.setattr(sys, "stdin", _Stdin(f"{provider.key}\n", False))
    code, out, err = run(capsys, "login", "mistral")
    assert code == 0 and err == ""
    assert out == "Saved the Mistral key.\nChecked the saved key: it works (1 model).\n"
    assert len(loopback.requests_for("mistral")) == 1
    code, out, _ = run(capsys, "models", "--porcelain")
    assert code == 0 and "mistral\tmistral-large-latest" in out


def test_login_says_when_a_key_does_not_work(loopback, serve, capsys, monkeypatch):
    loopback.add("mistral")
    serve()
    monkeypatch.delenv("MISTRAL_API_KEY")
    monkeypatch.setattr(sys, "stdin", _Stdin(f"{SECRET}\n", False))
    code, out, err = run(capsys, "login", "mistral")
    assert code == 1 and out == "Saved the Mistral key.\n"
    assert err.startswith("forge-ipy: checked the saved key, and Mistral refused or failed: "
                          "HTTP 401") and "forge-ipy login mistral" in err
    assert SECRET not in out + err


def test_login_says_when_the_environment_key_is_in_force(loopback, serve, capsys,
                                                         monkeypatch):
    loopback.add("mistral")
    serve()  # sets MISTRAL_API_KEY to the key the loopback accepts
    monkeypatch.setattr(sys, "stdin", _Stdin(f"{SECRET}\n", False))
    code, out, err = run(capsys, "login", "mistral")
    assert code == 0
    assert "MISTRAL_API_KEY is set in this environment and is used instead of the saved " \
           "key" in err
    assert out.endswith("Checked MISTRAL_API_KEY: it works (1 model).\n")
    assert SECRET not in out + err
    monkeypatch.setattr(sys, "stdin", _Stdin(f"{SECRET}\n", False))
    requests = len(loopback.requests_for("mistral"))
    code, out, err = run(capsys, "login", "mistral", "--no-check")
    assert code == 0 and out == "Saved the Mistral key.\n" and "MISTRAL_API_KEY" in err
    assert len(loopback.requests_for("mistral")) == requests


# -- cache -----------------------------------------------------------------------------
def test_cache_stats_json_clear_and_refresh(logged, capsys):
    assert run(capsys, "models")[0] == 0
    code, out, _ = run(capsys, "cache", "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    assert {"hits", "misses", "stale_serves", "refreshes", "errors", "file", "providers"} \
        <= set(stats)
    assert stats["file"]["path"] == str(cache_dir() / "models.json")
    assert stats["file"]["bytes"] > 0
    counts = {p["id"]: p["models"] for p in stats["providers"]}
    # Ollama at its default root was probed and is not running: kept as an empty entry.
    assert counts == {"openai": 4, "anthropic": 2, "openrouter": 2, "ollama": 0}

    code, out, _ = run(capsys, "cache", "stats")
    assert code == 0 and "openrouter" in out and "hits" in out

    code, out, _ = run(capsys, "cache", "clear", "-p", "openai")
    assert (code, out) == (0, "Cleared 1 cached provider list.\n")
    code, out, _ = run(capsys, "cache", "clear")
    assert (code, out) == (0, "Cleared 3 cached provider lists.\n")  # with ollama's
    assert json.loads(run(capsys, "cache", "stats", "--json")[1])["providers"] == []

    before = len(logged.requests)
    marker = cache_dir() / "refresh.started"
    marker.touch()
    assert run(capsys, "cache", "refresh", "--quiet") == (0, "", "")
    assert len(logged.requests) == before + 3
    assert not marker.exists()
    counts = {p["id"]: p["models"]
              for p in json.loads(run(capsys, "cache", "stats", "--json")[1])["providers"]}
    assert counts == {"openai": 4, "anthropic": 2, "openrouter": 2, "ollama": 0}

    code, out, _ = run(capsys, "cache", "refresh", "-p", "anthropic")
    assert code == 0 and out == "Refreshed 1 provider, 2 models.\n"


# -- completion and help ---------------------------------------------------------------
@pytest.mark.parametrize("shell, marker", [("zsh", "#compdef"), ("bash", "complete ")])
def test_completion_prints_the_shell_script(capsys, shell, marker):
    pytest.importorskip("forge_ipy.complete", reason="forge_ipy/complete.py not written yet")
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    assert marker in out and "forge-ipy" in out


@pytest.mark.parametrize("argv, mentions", [
    ([], ["models", "providers", "select", "current", "login", "logout", "cache",
          "completion"]),
    (["--help"], ["models", "providers", "select", "current", "login", "logout", "cache",
                  "completion"]),
    (["models", "--help"], ["--provider", "--refresh", "--all", "--json", "--porcelain"]),
    (["providers", "--help"], ["--json"]),
    (["select", "--help"], ["PROVIDER/MODEL"]),
    (["current", "--help"], ["--json"]),
    (["login", "--help"], ["PROVIDER", "0600"]),
    (["logout", "--help"], ["PROVIDER"]),
    (["cache", "--help"], ["stats", "clear", "refresh"]),
    (["cache", "stats", "--help"], ["--json"]),
    (["cache", "clear", "--help"], ["--provider"]),
    (["cache", "refresh", "--help"], ["--provider", "--quiet"]),
    (["completion", "--help"], ["zsh", "bash"]),
])
def test_help_exits_zero_and_mentions_the_options(capsys, argv, mentions):
    capsys.readouterr()
    if argv:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 0
    else:
        assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: forge-ipy")
    for option in mentions:
        assert option in out, option


# -- secrets ---------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["env", "store"])
def test_a_refused_key_never_appears_in_any_output(loopback, serve, capsys, monkeypatch,
                                                   source):
    for pid in ("openai", "anthropic", "gemini", "xai"):
        loopback.add(pid, key="the-right-key")
    serve()
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "XAI_API_KEY"):
        if source == "env":
            monkeypatch.setenv(var, SECRET)
        else:
            monkeypatch.delenv(var)
    if source == "store":
        for pid in ("openai", "anthropic", "gemini", "xai"):
            credentials.save_key(pid, SECRET)
    seen = ""
    for argv in (["models"], ["models", "--json"], ["models", "--porcelain"], ["providers"],
                 ["providers", "--json"], ["select", "openai/gpt-4o"], ["cache", "refresh"],
                 ["cache", "stats", "--json"], ["current", "--json"]):
        _, out, err = run(capsys, *argv)
        seen += out + err
        assert SECRET not in out + err, argv
    doc = json.loads(run(capsys, "models", "--json")[1])
    assert {p["id"]: p["error_kind"] for p in doc["providers"]} == dict.fromkeys(
        ("openai", "anthropic", "gemini", "xai"), "auth")
    assert "check the key" in seen  # the refusals were reported, just not the key
    for path in (cache_dir() / "models.json", config_dir() / "state.json"):
        assert not path.exists() or SECRET not in path.read_text()


# -- the real console script -----------------------------------------------------------
def _launchers() -> list[pytest.param]:
    script = shutil.which("forge-ipy", path=str(Path(sys.executable).parent))
    return [
        pytest.param([script] if script else None, id="console-script"),
        pytest.param([sys.executable, "-m", "forge_ipy"], id="python-m"),
    ]


@pytest.mark.parametrize("launcher", _launchers())
def test_the_console_script_lists_selects_and_reports(loopback, serve, launcher):
    if launcher is None:
        pytest.skip("no forge-ipy console script next to this Python")
    loopback.add("openai")
    loopback.add("ollama")  # keyless: the real default root must not be probed
    loopback.add("groq", failure="status:500")
    serve()
    env = dict(os.environ)

    def cli_run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*launcher, *argv], env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    listed = cli_run("models", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [(m["provider_id"], m["id"]) for m in doc["models"]] == sorted(
        [("ollama", "llama3.2:latest"), ("ollama", "qwen2.5-coder:7b"), ("openai", "gpt-4o"),
         ("openai", "gpt-4o-mini"), ("openai", "o3-mini")], key=lambda p: (p[0], p[1].lower()))
    assert "groq: failed: HTTP 500" in listed.stderr
    assert "Traceback" not in listed.stderr

    selected = cli_run("select", "ollama/llama3.2:latest")
    assert selected.returncode == 0, selected.stderr
    assert selected.stdout == "Switched to model: llama3.2:latest on provider: Ollama\n"
    current = cli_run("current", "--json")
    assert json.loads(current.stdout) == {"provider_id": "ollama", "model": "llama3.2:latest"}

    unknown = cli_run("models", "-p", "nope")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert unknown.stderr.startswith("forge-ipy: unknown provider")



def test_cache_stats_add_up_the_counts_of_every_process(logged):
    """Each `forge-ipy` process adds its hits and misses to totals that outlive it."""
    env = dict(os.environ)

    def cli_run(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "forge_ipy", *argv], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    cli_run("models", "--json")  # 3 misses: the providers are fetched and stored
    cli_run("models", "--json")  # a new process: 3 hits, from the file
    totals = json.loads(cli_run("cache", "stats", "--json"))["all_processes"]
    # misses include Ollama, probed at its (closed) default root and remembered as absent
    assert (totals["misses"], totals["hits"], totals["refreshes"]) == (4, 3, 3)
    assert "all processes, counted since" in cli_run("cache", "stats")


@pytest.mark.parametrize("argv", [("select", "openai/gpt-4o"), ("login", "openai")])
def test_a_config_folder_that_is_a_file_is_a_one_line_error(logged, capsys, monkeypatch,
                                                            tmp_path, argv):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(blocker))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-key\n"))
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("forge-ipy: cannot use ") and str(blocker) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cache_refresh_into_a_cache_folder_that_is_a_file_does_not_crash(logged, capsys,
                                                                         monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FORGE_IPY_CACHE_DIR", str(blocker))
    code, out, _ = run(capsys, "cache", "refresh")
    assert code == 0 and "Refreshed" in out  # lists stay in memory; the warning says why


@pytest.fixture
def mixed(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    """Providers that say what their models are: Groq with whisper and a retired model,
    Together with an embedding model, Anthropic with a reasoning model."""
    loopback.add("groq", [
        FakeModel("llama-3.3-70b-versatile", context_length=131072, tools=True,
                  input_price=0.59, output_price=0.79, cache_read_price=0.3),
        FakeModel("whisper-large-v3", context_length=448, kind="audio"),
        FakeModel("gemma2-9b-it", status="retired")])
    loopback.add("together", [FakeModel("BAAI/bge-large-en-v1.5", chat=False),
                              FakeModel("meta-llama/Llama-3.3-70B-Instruct-Turbo")])
    loopback.add("anthropic", [FakeModel("claude-opus-4-6", context_length=200000,
                                         reasoning=True)])
    return serve()


LISTED = ["anthropic/claude-opus-4-6", "groq/llama-3.3-70b-versatile",
          "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"]
UNLISTED = ["groq/gemma2-9b-it", "groq/whisper-large-v3", "together/BAAI/bge-large-en-v1.5"]


def full_names(out: str) -> list[str]:
    return [f"{row[0]}/{row[1]}" for row in table_rows(out)[1:]]


def test_models_lists_chat_models_and_all_lists_every_kind_with_a_kind_column(mixed, capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert table_rows(out)[0][:5] == ["provider", "model", "context", "tools", "reasoning"]
    assert full_names(out) == LISTED
    assert "reasoning" in table_rows(out)[1]  # claude-opus-4-6 thinks

    code, out, _ = run(capsys, "models", "--all")
    assert code == 0
    assert table_rows(out)[0][:3] == ["provider", "model", "kind"]
    assert full_names(out) == sorted(LISTED + UNLISTED, key=lambda n: n.lower())
    kinds = {f"{row[0]}/{row[1]}": row[2] for row in table_rows(out)[1:]}
    assert kinds["groq/whisper-large-v3"] == "audio"
    assert kinds["together/BAAI/bge-large-en-v1.5"] == "embedding"
    assert kinds["groq/gemma2-9b-it"] == "chat"  # then "(retired)"


def test_json_carries_kind_and_the_new_fields_and_honours_all(mixed, capsys):
    _, out, _ = run(capsys, "models", "--json")
    models = json.loads(out)["models"]
    assert [f"{m['provider_id']}/{m['id']}" for m in models] == LISTED
    new = {"kind", "reasoning", "output_modalities", "cache_read_price", "knowledge",
           "release_date", "status", "facts_from"}
    assert all(MODEL_KEYS | new <= set(m) for m in models)
    groq = next(m for m in models if m["provider_id"] == "groq")
    assert (groq["kind"], groq["cache_read_price"], groq["facts_from"][0]) == (
        "chat", 0.3, "provider")

    _, out, _ = run(capsys, "models", "--json", "--all")
    kinds = {f"{m['provider_id']}/{m['id']}": (m["kind"], m["status"])
             for m in json.loads(out)["models"]}
    assert kinds["groq/whisper-large-v3"] == ("audio", None)
    assert kinds["groq/gemma2-9b-it"] == ("chat", "retired")


def test_porcelain_appends_the_new_columns_after_the_old_ones(mixed, capsys):
    _, out, _ = run(capsys, "models", "--porcelain", "--all")
    header, *rows = [line.split("\t") for line in out.splitlines()]
    assert header[:7] == ["provider", "model", "context_length", "max_output_tokens", "tools",
                          "input_price", "output_price"]
    assert header[7:11] == ["kind", "reasoning", "cache_read_price", "status"]
    assert all(len(row) == len(header) for row in rows)
    groq = {row[1]: dict(zip(header, row, strict=True)) for row in rows if row[0] == "groq"}
    assert groq["llama-3.3-70b-versatile"]["cache_read_price"] == "0.3"
    assert groq["whisper-large-v3"]["kind"] == "audio"
    assert groq["whisper-large-v3"]["input_modalities"] == "audio"
    assert groq["gemma2-9b-it"]["status"] == "retired"


@pytest.mark.parametrize("name, says", [
    ("groq/whisper-large-v3", "groq/whisper-large-v3 is an audio model, not a chat model"),
    ("together/BAAI/bge-large-en-v1.5", "is an embedding model, not a chat model"),
    ("gemma2-9b-it", "groq/gemma2-9b-it is retired"),
])
def test_select_refuses_a_model_that_is_not_a_chat_model_naming_its_kind(mixed, capsys, name,
                                                                          says):
    code, out, err = run(capsys, "select", name)
    assert code == 1 and out == ""
    assert says in err and err.count("\n") == 1
    assert not (config_dir() / "state.json").exists()
