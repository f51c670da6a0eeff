"""The fast path behind shell completion: `forge-ipy complete models|providers [PREFIX]`.

A TAB press must answer in a few milliseconds (BENCHMARKS.md: at most twice `python -c pass`),
so this module reads the names index (`names.txt`, rewritten with every write of
`models.json`) and imports only os, time and four small modules of ours: places (where
files are), files (`read_regular`: never waits on a pipe), cache_rules (the same rules the
full path follows: an entry counts only for the credential and API root in force now, and
never from the future) and login_memo (who is logged in, worked out by the registry once and
remembered until an input changes). No
json, re, settings, registry, pathlib, dataclasses or pydantic on the way of a hit.
It never prints an error: a missing, corrupt or newer-schema cache just completes nothing.

When the cache lacks a logged-in provider, holds no index for the current models.json, or
(strategy moderate/fresh) an entry is older than the TTL, it starts one detached
`forge-ipy cache refresh --quiet`, so the next TAB is complete. At most one refresh runs at a
time: the marker file `refresh.started` in the cache folder is created exclusively before
spawning; the refresh deletes it when done, and a marker older than MARKER_LIFETIME seconds
counts as abandoned.
"""

from __future__ import annotations

import os
import sys
import time

from . import cache_rules, login_memo, places
from .files import CACHE_FILE_BYTES, FOLDER_MODE, read_regular

# typing is not imported at run time: shell completion starts in this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MARKER_NAME = "refresh.started"
MARKER_LIFETIME = 60.0
NO_REFRESH_ENV = "FORGE_IPY_NO_BACKGROUND_REFRESH"
SHELLS = ("zsh", "bash")


def _read_entries() -> dict[str, Any] | None:
    """The index's entries; {} when there is nothing usable (a refresh makes it); None when
    models.json is from a newer forge-ipy.

    None means "leave it alone": a refresh could not write there either, so spawning one
    would only repeat on every TAB.
    """
    folder = places.cache_folder()
    models_path = os.path.join(folder, cache_rules.FILE_NAME)
    source = places.file_stamp(models_path)
    if source is None:
        return {}
    try:
        index = read_regular(os.path.join(folder, cache_rules.INDEX_NAME), CACHE_FILE_BYTES)
        entries = cache_rules.read_names_index(index.decode(), source)
    except (OSError, ValueError):  # absent, damaged, a pipe (never waited on), not UTF-8
        entries = None
    if entries is not None:
        return entries
    # No index for this file (written by a forge-ipy without one, or being replaced): read
    # the file itself only to tell whether it is from a newer forge-ipy.
    from .files import read_json

    try:
        data = read_json(models_path, CACHE_FILE_BYTES)
    except (OSError, ValueError):
        data = None
    verdict, _ = cache_rules.file_verdict(data)
    return None if verdict == cache_rules.NEWER else {}


def _collect(entries: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """(provider id, model id) pairs of the valid entries, and whether a refresh is due."""
    pairs: list[tuple[str, str]] = []
    stale = False
    now = time.time()
    logins = login_memo.current()
    strategy, ttl = logins["strategy"], logins["ttl"]
    for pid, fingerprint, expected in logins["providers"]:
        entry = entries.get(pid)
        if (cache_rules.entry_fault(entry, now, "names") is not None
                or entry["fingerprint"] != fingerprint):
            stale = stale or expected
            continue
        if strategy is not None and cache_rules.is_expired(entry["fetched_at"], now,
                                                           strategy, ttl):
            stale = True
        # The index holds only completable names; checked again against a damaged one.
        pairs.extend((pid, name) for name in entry["names"] if cache_rules.completable(name))
    return pairs, stale


def _claim_marker(folder: str) -> int | None:
    """Create the refresh marker exclusively; its descriptor, or None when a refresh is live."""
    marker = os.path.join(folder, MARKER_NAME)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
        return os.open(marker, flags, 0o600)
    except FileExistsError:
        pass
    try:
        if time.time() - os.stat(marker).st_mtime < MARKER_LIFETIME:
            return None
        # Abandoned (the refresh died or was killed): replace it. Two completions racing on the
        # same expired marker within microseconds could both win; a duplicate refresh is harmless.
        os.unlink(marker)
    except FileNotFoundError:
        pass  # the refresh just finished and removed it
    try:
        return os.open(marker, flags, 0o600)
    except FileExistsError:
        return None


def spawn_refresh() -> int:
    """Start `forge-ipy cache refresh --quiet` detached from the terminal; its pid.

    A separate function so tests can replace it.
    """
    import subprocess  # only here: most completions never spawn, and each import costs startup

    process = subprocess.Popen(
        [sys.executable, "-m", "forge_ipy", "cache", "refresh", "--quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives the shell's TAB handling and its signals
        close_fds=True,
    )
    return process.pid


def _start_background_refresh() -> bool:
    """Spawn one refresh unless disabled or one is already running; True when spawned."""
    if os.environ.get(NO_REFRESH_ENV, "").strip() not in ("", "0"):
        return False
    import contextlib  # here: a TAB that finds everything fresh never needs it
    folder = places.cache_folder()
    fd = _claim_marker(folder)
    if fd is None:
        return False
    try:
        pid = spawn_refresh()
    except Exception:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, MARKER_NAME))
        return False
    with contextlib.suppress(OSError):
        os.write(fd, f"{pid}\n".encode())
    os.close(fd)
    return True


def _matches(full: str, model_id: str, prefix: str) -> bool:
    if full.startswith(prefix):
        return True
    # A bare prefix also matches the model id, so `select gpt<TAB>` offers `openai/gpt-4o`.
    return "/" not in prefix and model_id.startswith(prefix)


def complete_models(prefix: str = "") -> list[str]:
    """`provider/model` names of logged-in providers' cached models that match `prefix`.

    Sorted by provider, then model id (case-insensitive, as everywhere). Never raises.
    """
    try:
        entries = _read_entries()
        if entries is None:
            return []
        pairs, stale = _collect(entries)
        if stale:
            _start_background_refresh()
    except Exception:  # completion must never show a traceback
        return []
    pairs.sort(key=lambda pair: (pair[0], pair[1].lower(), pair[1]))
    names = (f"{pid}/{model_id}" for pid, model_id in pairs)
    return [name for name in names if _matches(name, name.partition("/")[2], prefix)]


def complete_providers(prefix: str = "") -> list[str]:
    """Known provider ids (built-in and from config.toml) starting with `prefix`."""
    try:
        ids = login_memo.current()["known"]
    except Exception:  # a broken config.toml still completes the built-ins
        from .providers import registry

        ids = [spec.id for spec in registry.BUILTINS]
    return [pid for pid in ids if pid.startswith(prefix) and cache_rules.completable(pid)]


def completion_script(shell: str) -> str:
    """The completion script for `shell` ("zsh" or "bash"), to source or put on fpath, with
    this Python written in: the script asks it directly, not through `forge-ipy`."""
    import shlex
    from pathlib import Path

    if shell not in SHELLS:
        raise ValueError(f"no completion for shell {shell!r}; use one of: {', '.join(SHELLS)}")
    script = (Path(__file__).parent / "shell" / f"forge-ipy.{shell}").read_text(encoding="utf-8")
    return script.replace("@PYTHON@", shlex.quote(sys.executable), 1)


USAGE = "usage: forge-ipy complete {models|providers} [PREFIX]"


def main(argv: list[str]) -> int:
    """`forge-ipy complete KIND [PREFIX]`: print one candidate a line; 0, or 2 on bad usage."""
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in ("models", "providers") or len(argv) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    prefix = argv[1] if len(argv) > 1 else ""
    found = complete_models(prefix) if argv[0] == "models" else complete_providers(prefix)
    if found:
        try:
            sys.stdout.write("\n".join(found) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the shell stopped reading: not our problem to report
            import contextlib

            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
