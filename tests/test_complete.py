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

from forge_ipy import cache_rules, complete, credentials, login_memo
from forge_ipy.cache import CacheFile
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
    """Write `entries` to models.json as given; for the current schema, have the cache's own
    writer take them in, which writes the names index that completion reads."""
    if entries is None:
        entries = {pid: entry(pid) for pid in PROVIDERS}
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "models.json").write_text(json.dumps({"schema": schema, "entries": entries}))
    if schema == cache_rules.SCHEMA:
        CacheFile(cache / cache_rules.FILE_NAME).write({})


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
    # Logging out (or in with another key) is seen by the very next TAB.
    credentials.delete_key("anthropic")
    assert complete.complete_models("anthropic/") == []
    credentials.save_key("anthropic", "sk-other")
    assert complete.complete_models("anthropic/") == []


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
    bad_rows = entry("openrouter")
    bad_rows["models"] += [None, 3, {"id": None}, {"name": "no id"}]
    write(cache, {"openai": "nonsense", "openrouter": bad_rows, "anthropic": entry("anthropic"),
                  "ollama": {**entry("ollama"), "models": None}})
    capsys.readouterr()  # the cache's writer logs what it dropped; completion says nothing
    assert complete.main(["models"]) == 0
    assert capsys.readouterr() == ("\n".join(m for m in EXPECTED if m.startswith("anthropic/"))
                                   + "\n", "")


@pytest.mark.parametrize("index", [
    "", "{}", "forge-ipy names\t2", "forge-ipy names\t2\t1\t2\t3\n\topenai\tfp\t1.0\ngpt-4o\n",
    b"\xff\xfe", "{header}\n\topenai\tfingerprint-without-a-time\n", "{header}\x00",
])
def test_unusable_index_completes_nothing_and_asks_for_a_refresh(cache, spawns, capsys, index):
    write(cache)
    path = cache / cache_rules.INDEX_NAME
    if isinstance(index, str):  # {header}: the right one, for this models.json
        header = path.read_text().split("\n")[0]
        index = index.replace("{header}", header).encode()
    path.write_bytes(index)
    assert complete.main(["models"]) == 0
    assert capsys.readouterr() == ("", "")
    assert spawns == [1]


def test_index_of_another_models_json_is_ignored(cache, spawns):
    """models.json replaced by a forge-ipy that writes no index: the old index is not used."""
    write(cache)
    path = cache / cache_rules.FILE_NAME
    path.write_text(path.read_text() + " ")
    assert complete.complete_models() == []
    assert spawns == [1]


def test_names_that_are_not_printable_are_never_offered(cache, spawns):
    ids = ["gpt-4o", "evil\nopenai/forged", "tab\there", "bidi\u202egpt", "ok name"]
    write(cache, {"openai": entry("openai", ids=ids)})
    assert complete.complete_models("openai/") == ["openai/gpt-4o", "openai/ok name"]


def test_index_holds_only_names_listed_by_default(cache, spawns):
    models = [{"provider_id": "openai", "id": "gpt-4o", "name": "gpt-4o", "kind": "chat"},
              {"provider_id": "openai", "id": "text-embedding-3", "name": "e",
               "kind": "embedding"},
              {"provider_id": "openai", "id": "gpt-3", "name": "g", "status": "retired"},
              {"provider_id": "openai", "id": "o3", "name": "o3"}]
    write(cache, {"openai": {**entry("openai"), "models": models}})
    assert complete.complete_models("openai/") == ["openai/gpt-4o", "openai/o3"]


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


def loaded_by_a_fresh_tab(code: str, heavy: tuple[str, ...]) -> list[str]:
    """Run `code` in a fresh interpreter: the lines it printed, then which of `heavy` it
    imported."""
    code += f"import sys\nprint(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=os.environ.copy())
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_imports_nothing_heavy(cache):
    """Run in a fresh interpreter: a TAB must not pay for httpx, pydantic or IPython."""
    write(cache, {pid: entry(pid, age=7200) for pid in PROVIDERS})  # stale: the refresh path runs
    code = (
        "import sys, forge_ipy.complete as c\n"
        "c.spawn_refresh = lambda: 1\n"
        "c.main(['models', 'gpt'])\n"
    )
    heavy = ("httpx", "pydantic", "IPython", "forge_ipy.domain", "filelock")
    assert loaded_by_a_fresh_tab(code, heavy) == ["openai/gpt-4o", "openai/gpt-4o-mini", "[]"]
    assert (cache / complete.MARKER_NAME).exists()  # it did go through the refresh path


def test_a_repeated_tab_imports_only_what_reading_the_index_needs(cache, spawns):
    """Who is logged in is worked out once (registry, settings) and then remembered: the next
    TAB in a fresh interpreter loads neither, nor pathlib, dataclasses or OpenSSL."""
    write(cache)
    assert complete.complete_models("gpt") == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    heavy = ("forge_ipy.settings", "forge_ipy.providers.registry", "forge_ipy.credentials",
             "pathlib", "dataclasses", "typing", "_hashlib", "contextlib", "json", "re")
    code = "import forge_ipy.complete as c\nc.main(['models', 'gpt'])\n"
    assert loaded_by_a_fresh_tab(code, heavy) == ["openai/gpt-4o", "openai/gpt-4o-mini", "[]"]


def test_a_new_custom_provider_in_config_toml_is_seen_at_once(cache, spawns):
    write(cache)
    assert "lmstudio" not in complete.complete_providers()
    config = Path(os.environ["FORGE_IPY_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        '[providers.lmstudio]\nkind = "openai"\nbase_url = "http://127.0.0.1:1234/v1"\n')
    assert complete.complete_providers("lm") == ["lmstudio"]


def test_the_memo_of_who_is_logged_in_holds_no_secret(cache, spawns):
    write(cache)
    complete.complete_models()
    memo = (cache / login_memo.MEMO_NAME).read_text()
    assert memo.startswith("forge-ipy logins\t1\nM\t")
    for _, key, _, _ in PROVIDERS.values():
        if key:
            assert key not in memo


@pytest.mark.parametrize("memo", ["", "{", b"\xff", "forge-ipy logins\t1\nV\tA\n",
                                  "forge-ipy logins\t1\nM\tx\n",
                                  "forge-ipy logins\t1\nM\tx\tmoderate\tsoon\n",
                                  "forge-ipy logins\t1\nM\tx\t\t\nL\topenai\n"])
def test_a_damaged_memo_is_worked_out_again(cache, spawns, memo):
    write(cache)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / login_memo.MEMO_NAME).write_bytes(memo if isinstance(memo, bytes) else memo.encode())
    assert complete.complete_models() == EXPECTED
    assert login_memo._read_memos()[0]["logins"]["providers"]


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

