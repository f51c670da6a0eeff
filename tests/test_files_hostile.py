"""Damaged local files, concurrent writers, file modes, strict JSON and provider text on a
terminal: nothing crashes, hangs, loses a key or lets a provider's text act as control.

Every file forge-ipy reads is damaged in every way a home folder gets damaged (a number of
thousands of digits, nesting past the parser's limit, wrong types, bytes that are not UTF-8,
a named pipe, a folder); processes run for real where processes matter.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forge_ipy import cli, credentials, settings
from forge_ipy.cache import CacheFile, read_totals
from forge_ipy.credentials import delete_key, fingerprint, load_store, save_key, store_path
from forge_ipy.domain import Model, ModelListing, ProviderStatus, Selection
from forge_ipy.errors import CredentialError, SettingError
from forge_ipy.files import DamagedFileError, read_json, read_regular, to_json
from forge_ipy.formatting import (
    PORCELAIN_COLUMNS,
    format_model_line,
    format_status,
    format_table,
    porcelain_lines,
)
from forge_ipy.settings import resolve_settings
from forge_ipy.state import load_state, save_selection, state_path, toggle_favourite
from forge_ipy.testing import FakeModel

CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + ["\u202e", "\u2066"]

# -- the damage ----------------------------------------------------------------------------
DAMAGES: dict[str, Callable[[Path], None]] = {
    "huge-int": lambda p: p.write_text('{"schema": 2, "at": ' + "9" * 5000 + "}"),
    "400-digit-int": lambda p: p.write_text('{"schema": 2, "at": ' + "9" * 400 + "}"),
    "deep-nesting": lambda p: p.write_text("[" * 200_000 + "]" * 200_000),
    "wrong-types": lambda p: p.write_text('[1, "two", null, {"entries": []}]'),
    "not-utf8": lambda p: p.write_bytes(b'{"x": "\xff\xfe\xc3"}'),
    "nan": lambda p: p.write_text('{"schema": NaN, "at": Infinity, "x": 1e999}'),
    "named-pipe": lambda p: os.mkfifo(p),
    "folder": lambda p: p.mkdir(),
}


def damage(path: Path, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    DAMAGES[how](path)


def finishes(work: Callable[[], Any], seconds: float = 60.0) -> Any:
    """`work()`'s result, or its exception raised here; fails if it hangs (a blocking read
    of a named pipe would), instead of hanging the whole run."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung on a damaged file"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def one_line_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all("\n" not in w for w in found)
    return found


@pytest.mark.parametrize("how", DAMAGES)
def test_read_json_refuses_damage_in_one_line_and_reads_nan_as_null(tmp_path, how):
    path = tmp_path / "f.json"
    damage(path, how)
    try:
        data = finishes(lambda: read_json(path))
    except DamagedFileError as exc:
        assert how in ("huge-int", "deep-nesting", "not-utf8", "named-pipe", "folder")
        assert "\n" not in str(exc)
    else:
        assert how in ("400-digit-int", "wrong-types", "nan")
        if how == "nan":  # NaN and Infinity are not JSON: read as null
            assert data["schema"] is None and data["at"] is None


def test_read_regular_bounds_the_size(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 2048)
    assert read_regular(path, limit=2048) == b"x" * 2048
    with pytest.raises(DamagedFileError, match="larger than 1024 bytes"):
        read_regular(path, limit=1024)


@pytest.mark.parametrize("how", DAMAGES)
def test_models_json_damaged_reads_as_empty_with_one_warning(tmp_path, how, caplog):
    path = tmp_path / "cache" / "models.json"
    damage(path, how)
    assert finishes(CacheFile(path).read) == {}
    assert len(one_line_warnings(caplog)) == 1


def test_models_json_entry_with_a_huge_fetch_time_is_dropped_alone(tmp_path, caplog):
    path = tmp_path / "cache" / "models.json"
    path.parent.mkdir()
    good = {"fingerprint": "f", "fetched_at": time.time(), "models": [{"id": "m", "name": "m"}]}
    path.write_text(json.dumps({"schema": 2, "entries": {
        "openai": good, "groq": {**good, "fetched_at": 10**400}}}))
    assert set(CacheFile(path).read()) == {"openai"}
    [warning] = one_line_warnings(caplog)
    assert "groq" in warning


@pytest.mark.parametrize("how", DAMAGES)
def test_state_json_damaged_reads_as_empty_and_is_rewritten(how, caplog):
    damage(state_path(), how)
    assert finishes(load_state).selection is None
    assert len(one_line_warnings(caplog)) <= 1  # an object of other keys reads as empty
    if how != "folder":  # someone's folder is never replaced: the write says why
        save_selection(Selection(provider_id="openai", model="gpt-4o"))
        assert load_state().selection == Selection(provider_id="openai", model="gpt-4o")


@pytest.mark.parametrize("how", DAMAGES)
def test_credentials_json_damaged_is_one_clear_error(how):
    damage(store_path(), how)
    credentials._store_memo.clear()
    if how in ("400-digit-int", "nan"):  # an object: its usable keys (none) kept
        assert finishes(load_store) == {}
        return
    with pytest.raises(CredentialError) as caught:
        finishes(load_store)
    message = str(caught.value)
    assert "remove it" in message and "forge-ipy login" in message and "\n" not in message


@pytest.mark.parametrize("how", DAMAGES)
def test_stats_jsonl_damaged_costs_only_its_counts(tmp_path, how, caplog):
    path = tmp_path / "cache" / "stats.jsonl"
    damage(path, how)
    totals = finishes(lambda: read_totals(path))
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in totals.values())
    assert len(one_line_warnings(caplog)) <= 1


def test_stats_jsonl_damaged_lines_are_skipped_and_good_ones_counted(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_bytes(b'{"at": 1, "hits": 2}\n{"at": ' + b"9" * 5000 + b'}\n\xff\xfe\n'
                     + b"[" * 100_000 + b'\n{"at": NaN, "hits": 7}\n{"at": 3, "hits": 1e999}\n'
                     + b'{"at": true, "hits": 5}\n{"at": 2, "misses": 4}\n')
    assert read_totals(path) == {"since": 1, "hits": 2, "misses": 4}


@pytest.mark.parametrize("how", ["named-pipe", "folder", "deep-nesting"])
def test_a_damaged_salt_never_changes_fingerprints_between_processes(how):
    salt = settings.config_dir() / credentials.SALT_NAME
    damage(salt, how)
    first = finishes(lambda: fingerprint("k", "https://a/v1"))
    credentials.forget_fingerprints()
    assert fingerprint("k", "https://a/v1") == first  # saved somewhere, read back


@pytest.mark.parametrize("how", DAMAGES)
def test_config_toml_damaged_is_one_clear_error(how):
    path = settings.config_dir() / "config.toml"
    damage(path, how)
    settings._config_memo.clear()
    if how in ("400-digit-int", "wrong-types", "huge-int"):
        how_text = {"huge-int": "x = " + "9" * 5000, "400-digit-int": "x = " + "9" * 400,
                    "wrong-types": "provider_timeout_seconds = [1]"}[how]
        path.write_text(how_text)
    try:
        finishes(resolve_settings)
    except SettingError as exc:
        assert "\n" not in str(exc) and ("fix or remove" in str(exc) or "seconds" in str(exc))


def test_every_command_survives_every_file_being_a_named_pipe(tmp_path):
    """Real processes: each file forge-ipy reads is a named pipe; no command hangs, and
    `cache clear` leaves a cache every later command can use."""
    config, cache = settings.config_dir(), settings.cache_dir()
    for folder, names in ((config, ("config.toml", "state.json", "credentials.json")),
                          (cache, ("models.json", "stats.jsonl"))):
        for name in names:
            damage(folder / name, "named-pipe")
    (config / "config.toml").unlink()  # a broken config is an error for every command
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "FORGE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}

    def forge(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "forge_ipy", *argv], capture_output=True,
                              text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)

    current = forge("current")
    assert current.returncode == 0 and "Traceback" not in current.stderr
    stats = forge("cache", "stats")
    assert stats.returncode == 0 and "Traceback" not in stats.stderr
    cleared = forge("cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads((cache / "models.json").read_text()) == {"schema": 2, "entries": {}}
    completed = forge("complete", "models")
    assert completed.returncode == 0 and completed.stdout == ""


def test_cache_clear_works_whatever_is_at_the_cache_path(capsys):
    path = settings.cache_dir() / "models.json"
    damage(path, "folder")
    (path / "precious").write_text("kept")
    assert cli.main(["cache", "clear"]) == 0
    assert json.loads(path.read_text()) == {"schema": 2, "entries": {}}
    [aside] = path.parent.glob("models.json.corrupt-*")
    assert (aside / "precious").read_text() == "kept"  # moved aside, never deleted


# -- concurrency -------------------------------------------------------------------------
KEYED = ["openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek", "xai"]


def _together(code: str, args: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run `code` once per argument, in processes that all start at the same moment."""
    start = time.time() + 2.0  # all imports done, then all race together
    script = ("import sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
              + code)
    runs = [subprocess.Popen([sys.executable, "-c", script, str(start), arg],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.PIPE) for arg in args]
    done = []
    for run in runs:
        out, err = run.communicate(f"sk-{len(done)}\n", timeout=120)
        done.append(subprocess.CompletedProcess(run.args, run.returncode, out, err))
    assert all(r.returncode == 0 for r in done), [r.stderr for r in done]
    return done


def test_parallel_login_processes_keep_every_key():
    save_key("cerebras", "sk-kept")
    _together("from forge_ipy.cli import main; "
              "sys.exit(main(['login', sys.argv[2], '--no-check']))", KEYED)
    credentials._store_memo.clear()
    assert set(load_store()) == {*KEYED, "cerebras"}


def test_parallel_login_and_logout_processes_lose_nothing():
    for pid in KEYED[:4]:
        save_key(pid, "sk-old")
    code = ("from forge_ipy.cli import main\n"
            "verb, pid = sys.argv[2].split(':')\n"
            "sys.exit(main([verb, pid, *(['--no-check'] if verb == 'login' else [])]))")
    _together(code, [f"logout:{p}" for p in KEYED[:4]] + [f"login:{p}" for p in KEYED[4:]])
    credentials._store_memo.clear()
    assert set(load_store()) == set(KEYED[4:])


def test_parallel_favourite_processes_keep_every_favourite():
    names = [f"openai/m{i}" for i in range(8)]
    _together("from forge_ipy.state import toggle_favourite; toggle_favourite(sys.argv[2])",
              names)
    assert sorted(load_state().favourites) == names


# -- symlinks, leftovers and modes -------------------------------------------------------
def test_a_symlinked_state_file_stays_a_link_with_its_target_updated(tmp_path):
    target = tmp_path / "dotfiles" / "forge-state.json"
    target.parent.mkdir()
    target.write_text("{}")
    state_path().parent.mkdir(parents=True)
    state_path().symlink_to(target)

    save_selection(Selection(provider_id="openai", model="gpt-4o"))
    toggle_favourite("openai/gpt-4o")

    assert state_path().is_symlink() and state_path().resolve() == target
    assert json.loads(target.read_text())["model"] == "gpt-4o"
    assert load_state().favourites == ("openai/gpt-4o",)


def test_a_symlinked_credential_store_stays_a_link_and_private(tmp_path):
    target = tmp_path / "dotfiles" / "keys.json"
    target.parent.mkdir()
    target.write_text('{"groq": "gsk"}')
    store_path().parent.mkdir(parents=True)
    store_path().symlink_to(target)

    save_key("openai", "sk-openai")
    assert delete_key("groq") is True

    assert store_path().is_symlink()
    assert json.loads(target.read_text()) == {"openai": "sk-openai"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_temp_files_of_killed_writers_are_swept_on_the_next_write():
    folder = store_path().parent
    folder.mkdir(parents=True)
    orphan, live = folder / ".credentials.json.dead1.tmp", folder / ".credentials.json.live.tmp"
    orphan.write_text('{"openai": "sk-half-written"}')
    live.write_text("")
    hour_ago = time.time() - 3600
    os.utime(orphan, (hour_ago, hour_ago))

    save_key("openai", "sk")

    assert not orphan.exists()
    assert live.exists()  # a writer may still be at work on a recent one


def test_folders_and_private_files_get_their_modes(tmp_path):
    save_key("openai", "sk")
    save_selection(Selection(provider_id="openai", model="gpt-4o"))
    CacheFile().write({})
    fingerprint("k", "https://a/v1")

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(settings.config_dir()) == mode(settings.cache_dir()) == 0o700
    assert mode(store_path()) == mode(state_path()) == 0o600
    assert mode(settings.config_dir() / credentials.SALT_NAME) == 0o600


def test_a_config_folder_that_cannot_be_written_keeps_the_salt_in_the_cache_folder(
        tmp_path, monkeypatch):
    """Root writes anywhere, so the folder is made unwritable by a file in its path."""
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "not-a-folder" / "config"))
    code = ("import logging; logging.basicConfig(); "
            "from forge_ipy.credentials import fingerprint; print(fingerprint('k', 'r'))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ)) for _ in range(2)]

    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()
    assert (settings.cache_dir() / credentials.SALT_NAME).exists()
    assert "keeping it in" in runs[0].stderr and len(runs[0].stderr.splitlines()) == 1
    assert runs[1].stderr == ""  # said once, by the process that had to choose


# -- strict JSON -------------------------------------------------------------------------
def test_to_json_writes_null_for_what_json_cannot_say():
    text = to_json({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (math.nan,)})
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": [None]}
    assert "NaN" not in text and "Infinity" not in text


def test_nothing_writes_json_but_to_json():
    """Every JSON forge-ipy writes goes through the one strict writer."""
    package = Path(cli.__file__).parent
    writers = [f"{path.relative_to(package)}"
               for path in package.rglob("*.py")
               if path.name != "testing.py" and "json.dump" in path.read_text()
               and path.name != "files.py"]
    assert writers == []


def test_a_state_file_with_nan_is_rewritten_strict():
    state_path().parent.mkdir(parents=True)
    state_path().write_text('{"provider_id": NaN, "model": "m", "recents": [Infinity]}')
    toggle_favourite("openai/m")
    assert "NaN" not in state_path().read_text()
    assert json.loads(state_path().read_text())["provider_id"] is None


# -- provider text on a terminal ---------------------------------------------------------
def _model(model_id: str, **fields: Any) -> Model:
    return Model(provider_id="openai", id=model_id, name=model_id, **fields)


def test_a_huge_id_never_pads_every_row():
    rows = [["openai", "x" * 1_000_000], ["openai", "gpt-4o"]]
    lines = format_table(["provider", "model"], rows).splitlines()
    assert max(len(line) for line in lines) < 100
    assert lines[1].endswith("…")


def test_control_characters_in_ids_and_errors_are_shown_escaped():
    evil = "gpt\x1b[2J\x07\r\u202eevil\x9b"
    line = format_model_line(_model(evil))
    status = ProviderStatus(id="openai", name="OpenAI", ok=False, error_kind="http",
                            error="HTTP 500: \x1b]0;owned\x07 body")
    shown = line + format_status(status, time.time()) + format_table(["m"], [[evil]])
    assert not any(c in shown.replace("\n", "") for c in CONTROL)
    assert "\\x1b[2J" in line and "\\u202e" in line


def test_a_tab_or_newline_in_an_id_never_forges_a_porcelain_field_or_row():
    listing = ModelListing(models=(_model("a\tb\nopenai\tforged"), _model("ok")),
                           providers=(ProviderStatus(id="openai", name="OpenAI", ok=True),))
    lines = porcelain_lines(listing)
    assert len(lines) == 3
    assert all(len(line.split("\t")) == len(PORCELAIN_COLUMNS) for line in lines)
    assert lines[1].split("\t")[1] == "a\\tb\\nopenai\\tforged"


def test_the_cli_never_prints_a_raw_control_character(loopback, monkeypatch, capsys):
    evil = ["gpt\x1b[31mred", "tab\there", "new\nline", "bidi\u202eevil", "bell\x07"]
    loopback.add("openai", [FakeModel(i, name=i, context_length=8192) for i in evil])
    for name, value in loopback.env().items():
        monkeypatch.setenv(name, value)
    outputs = []
    for argv in (["models"], ["models", "--porcelain"], ["models", "--json"],
                 ["complete", "models"], ["select", "openai/gpt\x1b[31mred"],
                 ["current"], ["current", "--json"], ["select", "nope\x1b[2J"]):
        capsys.readouterr()
        cli.main(argv)
        out, err = capsys.readouterr()
        outputs.append(out + err)
    porcelain = outputs.pop(1).splitlines()
    assert len(porcelain) == 1 + len(evil)
    assert {len(r.split("\t")) for r in porcelain} == {len(PORCELAIN_COLUMNS)}
    shown = "".join(outputs)
    assert [c for c in CONTROL if c in shown.replace("\n", "")] == [], outputs
    assert "gpt\\x1b[31mred" in shown  # shown escaped, not dropped
    data = json.loads(outputs[1])
    assert {m["id"] for m in data["models"]} == set(evil)  # JSON keeps the raw value
    assert outputs[2] == ""  # completion offers none of these names


# -- settings ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "most"), [
    ("provider_timeout_seconds", "1e300", "3600"),
    ("provider_timeout_seconds", "3601", "3600"),
    ("model_cache_ttl_seconds", "1e300", "3.16224e+07"),
    ("model_cache_ttl_seconds", "9" * 400, "3.16224e+07"),
])
def test_a_huge_number_of_seconds_is_refused_with_the_range(monkeypatch, capsys, name, value,
                                                            most):
    monkeypatch.setenv(f"FORGE_{name.upper()}", value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert cli.main(["models"]) == 1
    err = capsys.readouterr().err
    assert name in err and f"at most {most}" in err and len(err.splitlines()) == 1


def test_the_largest_allowed_timeout_is_accepted():
    assert settings.validate("provider_timeout_seconds", "3600") == 3600.0
