"""The completion fast path: which cached models it offers, when it asks for a refresh, and
that it stays light and silent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge_ipy import complete, credentials
from forge_ipy.providers import registry

KEY_VARS = registry.environment_variables()  # keys, API roots, the config folder

# provider id -> (key variable, key, API root, model ids in file order)
PROVIDERS = {
    "openai": ("OPENAI_API_KEY", "sk-openai", "http://127.0.0.1:9/openai/v1",
               ["o3", "gpt-4o-mini", "GPT-4", "gpt-4o"]),
    "anthropic": ("ANTHROPIC_API_KEY", "sk-ant", "http://127.0.0.1:9/anthropic/v1",
                  ["claude-sonnet-4", "claude-3-5-haiku"]),
    "openrouter": ("OPENROUTER_API_KEY", "sk-or", "http://127.0.0.1:9/openrouter/v1",
                   ["openai/gpt-4o", "anthropic/claude-3.5-sonnet"]),
    "ollama": (None, None, "http://127.0.0.1:9/ollama", ["llama3.2:latest", "llama3.2:1b"]),
}

EXPECTED = [
    "anthropic/claude-3-5-haiku",
    "anthropic/claude-sonnet-4",
    "ollama/llama3.2:1b",
    "ollama/llama3.2:latest",
    "openai/GPT-4",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/o3",
    "openrouter/anthropic/claude-3.5-sonnet",
    "openrouter/openai/gpt-4o",
]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """Own config and cache folders, only our providers logged in, at known roots."""
    for name in list(os.environ):
        if name.startswith("FORGE_") or name in KEY_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FORGE_IPY_CACHE_DIR", str(tmp_path / "cache"))
    for pid, (var, key, root, _) in PROVIDERS.items():
        monkeypatch.setenv(f"FORGE_{pid.upper()}_BASE_URL", root)
        if var:
            monkeypatch.setenv(var, key)
    credentials.forget_fingerprints()
    yield tmp_path / "cache"
    credentials.forget_fingerprints()


@pytest.fixture
def spawns(monkeypatch) -> list[int]:
    """Record background refreshes instead of starting them."""
    started: list[int] = []

    def fake_spawn() -> int:
        started.append(1)
        return 4242

    monkeypatch.setattr(complete, "spawn_refresh", fake_spawn)
    return started


def entry(pid: str, *, age: float = 0.0, key: str | None = "same", root: str | None = None,
          ids: list[str] | None = None) -> dict:
    _, real_key, real_root, real_ids = PROVIDERS[pid]
    fp = credentials.fingerprint(real_key if key == "same" else key, root or real_root)
    return {
        "provider_id": pid,
        "fingerprint": fp,
        "fetched_at": time.time() - age,
        "models": [{"provider_id": pid, "id": i, "name": i} for i in (ids or real_ids)],
    }


def write(cache: Path, entries: dict | None = None, *, schema: int = 2) -> None:
    if entries is None:
        entries = {pid: entry(pid) for pid in PROVIDERS}
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "models.json").write_text(json.dumps({"schema": schema, "entries": entries}))


def test_all_valid_models_sorted_by_provider_then_id(cache, spawns):
    write(cache)
    assert complete.complete_models() == EXPECTED
    assert spawns == []


def test_prefix_matches_full_name(cache, spawns):
    write(cache)
    assert complete.complete_models("openai/gpt-4o") == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert complete.complete_models("openr") == [
        "openrouter/anthropic/claude-3.5-sonnet", "openrouter/openai/gpt-4o",
    ]
    assert complete.complete_models("ollama/llama3.2:l") == ["ollama/llama3.2:latest"]
    assert complete.complete_models("nothing") == []


def test_bare_prefix_also_matches_model_id(cache, spawns):
    write(cache)
    assert complete.complete_models("gpt") == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert complete.complete_models("llama3.2:") == ["ollama/llama3.2:1b", "ollama/llama3.2:latest"]
    assert complete.complete_models("claude-3") == ["anthropic/claude-3-5-haiku"]


def test_prefix_with_slash_is_not_matched_against_the_bare_id(cache, spawns):
    write(cache)
    # `openai/gpt-4o` is also OpenRouter's bare id, but a `/` means a full name was typed.
    assert "openrouter/openai/gpt-4o" not in complete.complete_models("openai/gpt-4o")


def test_changed_key_invalidates_that_provider_and_asks_for_a_refresh(cache, spawns,
                                                                       monkeypatch):
    write(cache)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated")
    found = complete.complete_models()
    assert not [m for m in found if m.startswith("openai/")]
    assert "anthropic/claude-sonnet-4" in found
    assert spawns == [1]


def test_wrong_fingerprint_or_root_is_excluded(cache, spawns):
    write(cache, {
        "openai": entry("openai", key="sk-other"),
        "anthropic": entry("anthropic", root="http://127.0.0.1:9/elsewhere/v1"),
        "openrouter": entry("openrouter"),
    })
    assert complete.complete_models() == [m for m in EXPECTED if m.startswith("openrouter/")]


def test_logged_out_provider_is_excluded_and_not_refreshed(cache, spawns, monkeypatch):
    write(cache, {pid: entry(pid) for pid in ("openai", "anthropic", "ollama")})
    monkeypatch.delenv("OPENROUTER_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert complete.complete_models() == [
        m for m in EXPECTED if m.startswith(("openai/", "ollama/"))
    ]
    assert spawns == []


def test_key_from_the_credential_store_counts(cache, spawns, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    credentials.save_key("anthropic", "sk-ant")
    write(cache)
    assert complete.complete_models("anthropic/") == [
        "anthropic/claude-3-5-haiku", "anthropic/claude-sonnet-4",
    ]


@pytest.mark.parametrize("content", [
    "", "{", "not json", "[]", "null", '{"schema": 2}', '{"schema": 2, "entries": []}',
    '{"schema": "2", "entries": {}}', b"\xff\xfe\x00garbage",
])
def test_unusable_file_completes_nothing_silently(cache, spawns, capsys, content):
    cache.mkdir(parents=True)
    path = cache / "models.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert complete.main(["models"]) == 0
    assert capsys.readouterr() == ("", "")


def test_bad_entries_are_skipped_silently(cache, spawns, capsys):
    good = entry("anthropic")
    good["models"] += [None, 3, {"id": None}, {"id": ""}, {"name": "no id"}]
    write(cache, {"openai": "nonsense", "openrouter": {"models": "x"}, "anthropic": good,
                  "ollama": {**entry("ollama"), "models": None}})
    assert complete.complete_models() == [m for m in EXPECTED if m.startswith("anthropic/")]
    assert capsys.readouterr() == ("", "")


def test_newer_schema_is_left_alone(cache, spawns, capsys):
    write(cache, schema=3)
    assert complete.main(["models"]) == 0
    assert capsys.readouterr() == ("", "")
    assert spawns == []  # a refresh could not write there either


def test_older_schema_completes_nothing_and_asks_for_a_refresh(cache, spawns):
    write(cache, schema=1)
    assert complete.complete_models() == []
    assert spawns == [1]


def test_missing_file_asks_for_a_refresh(cache, spawns):
    assert complete.complete_models() == []
    assert spawns == [1]


def test_stale_entry_spawns_one_refresh_however_often_tab_is_pressed(cache, spawns):
    entries = {pid: entry(pid) for pid in PROVIDERS}
    entries["anthropic"] = entry("anthropic", age=3601)
    write(cache, entries)
    assert complete.complete_models() == EXPECTED  # stale lists are still offered
    assert complete.complete_models() == EXPECTED
    complete.complete_models("gpt")
    assert spawns == [1]
    marker = cache / complete.MARKER_NAME
    assert marker.read_text() == "4242\n"

    # The refresh deletes the marker when done; the next stale TAB may start another.
    marker.unlink()
    complete.complete_models()
    assert spawns == [1, 1]

    # A marker left by a refresh that died expires.
    old = time.time() - complete.MARKER_LIFETIME - 1
    os.utime(marker, (old, old))
    complete.complete_models()
    complete.complete_models()
    assert spawns == [1, 1, 1]


def test_fresh_entries_spawn_nothing(cache, spawns):
    write(cache)
    for _ in range(3):
        complete.complete_models()
    assert spawns == []
    assert not (cache / complete.MARKER_NAME).exists()


def test_ttl_comes_from_the_settings(cache, spawns, monkeypatch):
    write(cache, {pid: entry(pid, age=20) for pid in PROVIDERS})
    complete.complete_models()
    assert spawns == []
    monkeypatch.setenv("FORGE_MODEL_CACHE_TTL_SECONDS", "10")
    complete.complete_models()
    assert spawns == [1]


def test_fresh_strategy_expires_like_moderate(cache, spawns, monkeypatch):
    monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", "fresh")
    write(cache, {pid: entry(pid, age=3601) for pid in PROVIDERS})
    complete.complete_models()
    assert spawns == [1]


def test_aggressive_strategy_never_expires(cache, spawns, monkeypatch):
    monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", "aggressive")
    write(cache, {pid: entry(pid, age=10 * 365 * 86400) for pid in PROVIDERS})
    for _ in range(3):
        assert complete.complete_models() == EXPECTED
    assert spawns == []


def test_environment_switch_disables_refresh(cache, spawns, monkeypatch):
    monkeypatch.setenv(complete.NO_REFRESH_ENV, "1")
    write(cache, {pid: entry(pid, age=7200) for pid in PROVIDERS})
    assert complete.complete_models() == EXPECTED
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated")
    complete.complete_models()
    assert spawns == []
    assert not (cache / complete.MARKER_NAME).exists()


def test_ollama_at_its_default_root_may_be_missing(cache, spawns, monkeypatch):
    monkeypatch.delenv("FORGE_OLLAMA_BASE_URL")
    write(cache, {pid: entry(pid) for pid in ("openai", "anthropic", "openrouter")})
    complete.complete_models()
    assert spawns == []
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # an explicit root: it should be there
    complete.complete_models()
    assert spawns == [1]


def test_bad_setting_still_completes(cache, spawns, monkeypatch, capsys):
    monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", "sometimes")
    write(cache)
    assert complete.complete_models("openai/o") == ["openai/o3"]
    assert capsys.readouterr() == ("", "")


def test_failed_spawn_is_silent_and_frees_the_marker(cache, monkeypatch, capsys):
    def broken() -> int:
        raise OSError("no python")

    monkeypatch.setattr(complete, "spawn_refresh", broken)
    assert complete.main(["models"]) == 0
    assert capsys.readouterr() == ("", "")
    assert not (cache / complete.MARKER_NAME).exists()


def test_spawn_refresh_starts_a_detached_quiet_refresh(monkeypatch):
    calls = []

    class FakePopen:
        pid = 99

        def __init__(self, args, **kwargs):
            calls.append((args, kwargs))

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    assert complete.spawn_refresh() == 99
    [(args, kwargs)] = calls
    assert args == [sys.executable, "-m", "forge_ipy", "cache", "refresh", "--quiet"]
    assert kwargs["start_new_session"] is True
    for stream in ("stdin", "stdout", "stderr"):
        assert kwargs[stream] is subprocess.DEVNULL


def test_providers(cache):
    assert complete.complete_providers("o") == ["openai", "openrouter", "ollama"]
    assert "gemini" in complete.complete_providers()
    config = Path(os.environ["FORGE_IPY_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        '[providers.lmstudio]\nkind = "openai"\nbase_url = "http://127.0.0.1:1234/v1"\n'
    )
    assert complete.complete_providers("lm") == ["lmstudio"]
    (config / "config.toml").write_text("[providers.broken]\nkind = 'nope'\n")
    assert complete.complete_providers("ge") == ["gemini"]  # bad config: built-ins still


def test_main_prints_one_name_a_line(cache, spawns, capsys):
    write(cache)
    assert complete.main(["models", "gpt"]) == 0
    assert capsys.readouterr() == ("openai/gpt-4o\nopenai/gpt-4o-mini\n", "")
    assert complete.main(["providers", "an"]) == 0
    assert capsys.readouterr() == ("anthropic\n", "")
    assert complete.main(["models", "zzz"]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("argv", [[], ["nope"], ["models", "a", "b"]])
def test_main_bad_usage(argv, capsys):
    assert complete.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage:")


def test_completion_scripts():
    zsh = complete.completion_script("zsh")
    assert zsh.startswith("#compdef forge-ipy\n")
    assert "compdef _forge_ipy forge-ipy" in zsh
    assert "complete -F _forge_ipy forge-ipy" in complete.completion_script("bash")
    with pytest.raises(ValueError, match="fish"):
        complete.completion_script("fish")


def test_imports_nothing_heavy(cache):
    """Run in a fresh interpreter: a TAB must not pay for httpx, pydantic or IPython."""
    write(cache, {pid: entry(pid, age=7200) for pid in PROVIDERS})  # stale: the refresh path runs
    code = (
        "import sys, forge_ipy.complete as c\n"
        "c.spawn_refresh = lambda: 1\n"
        "c.main(['models', 'gpt'])\n"
        "heavy = ('httpx', 'pydantic', 'IPython', 'forge_ipy.domain', 'filelock')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=os.environ.copy())
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["openai/gpt-4o", "openai/gpt-4o-mini", "[]"]
    assert (cache / complete.MARKER_NAME).exists()  # it did go through the refresh path


def test_runs_as_a_module(cache):
    write(cache)
    env = {**os.environ, complete.NO_REFRESH_ENV: "1"}
    result = subprocess.run([sys.executable, "-m", "forge_ipy.complete", "models", "ollama/"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["ollama/llama3.2:1b", "ollama/llama3.2:latest"]


def test_concurrent_completions_spawn_one_refresh(cache, tmp_path):
    """Several shells pressing TAB at once against a stale cache start a single refresh."""
    write(cache, {pid: entry(pid, age=7200) for pid in PROVIDERS})
    log = tmp_path / "spawned.log"
    code = (
        "import sys, forge_ipy.complete as c\n"
        f"def spawn():\n    open({str(log)!r}, 'a').write('x\\n')\n    return 1\n"
        "c.spawn_refresh = spawn\n"
        "sys.exit(c.main(['models']))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=os.environ.copy()) for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) == (0, b"")
    assert log.read_text() == "x\n"


def test_models_a_list_would_not_show_are_not_offered(cache, spawns):
    """The stored kind and status decide (the provider's); a model with none stays offered."""
    row = entry("openai")
    row["models"] = [
        {"provider_id": "openai", "id": "gpt-4o", "name": "gpt-4o", "kind": "chat"},
        {"provider_id": "openai", "id": "whisper-1", "name": "whisper-1", "kind": "audio"},
        {"provider_id": "openai", "id": "gpt-4-0314", "name": "gpt-4-0314", "kind": "chat",
         "status": "retired"},
        {"provider_id": "openai", "id": "o3", "name": "o3", "status": "deprecated"},
        {"provider_id": "openai", "id": "babbage-002", "name": "babbage-002"},
    ]
    write(cache, {"openai": row})
    assert complete.complete_models("openai/") == [
        "openai/babbage-002", "openai/gpt-4o", "openai/o3"]
