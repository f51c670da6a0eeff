"""The fast path behind shell completion: `forge-ipy complete models|providers [PREFIX]`.

A TAB press must answer in a few milliseconds, so this module reads `models.json` with `json`
and imports only the standard library and our standard-library-only base modules (settings,
credentials, the provider table, the rule of what lists show): no httpx, pydantic, IPython
or `forge_ipy.domain`.
It never prints an error: a missing, corrupt or newer-schema cache just completes nothing.

When the cache lacks a logged-in provider or (strategy moderate/fresh) an entry is older than
the TTL, it starts one detached `forge-ipy cache refresh --quiet`, so the next TAB is complete.
At most one refresh runs at a time: the marker file `refresh.started` in the cache folder is
created exclusively before spawning; the refresh deletes it when done, and a marker older than
MARKER_LIFETIME seconds counts as abandoned.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from . import settings
from .providers import registry
from .shown import listed_by_default

# typing is not imported at run time: shell completion starts in this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA = 2
CACHE_NAME = "models.json"
MARKER_NAME = "refresh.started"
MARKER_LIFETIME = 60.0
NO_REFRESH_ENV = "FORGE_IPY_NO_BACKGROUND_REFRESH"
SHELLS = ("zsh", "bash")


def _read_entries() -> dict[str, Any] | None:
    """The `entries` of a schema-2 cache file; {} when absent or unusable; None for a newer schema.

    None means "leave it alone": a refresh could not write there either, so spawning one
    would only repeat on every TAB.
    """
    try:
        data = json.loads((settings.cache_dir() / CACHE_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    schema = data.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA:
        return None
    entries = data.get("entries")
    if schema != SCHEMA or not isinstance(entries, dict):
        return {}
    return entries


def _ttl() -> float | None:
    """Seconds after which an entry is stale, or None when entries never expire."""
    try:
        found = settings.resolve_settings()
    except Exception:  # a bad setting: still complete; a refresh would fail on it anyway
        return None
    # `fresh` always fetches in the kernel; for completion it behaves like `moderate`.
    return None if found.model_cache_strategy == "aggressive" else found.model_cache_ttl_seconds


def _collect(entries: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """(provider id, model id) pairs of the valid entries, and whether a refresh is due."""
    pairs: list[tuple[str, str]] = []
    stale = False
    now = time.time()
    ttl = _ttl()
    for spec in registry.all_specs().values():
        access = registry.resolve(spec)
        if not registry.is_logged_in(access):
            continue
        entry = entries.get(spec.id)
        if not isinstance(entry, dict) or entry.get("fingerprint") != access.fingerprint:
            # Ollama at its default root may just not be running: no entry is normal there.
            if not (spec.keyless and not access.root_explicit):
                stale = True
            continue
        fetched = entry.get("fetched_at")
        if ttl is not None and not (isinstance(fetched, int | float) and now - fetched <= ttl):
            stale = True
        models = entry.get("models")
        for model in models if isinstance(models, list) else ():
            if not isinstance(model, dict):
                continue
            model_id = model.get("id")
            # The stored kind is the provider's; a model with none stays offered.
            if isinstance(model_id, str) and model_id and listed_by_default(
                    model.get("kind"), model.get("status")):
                pairs.append((spec.id, model_id))
    return pairs, stale


def _claim_marker(folder: Path) -> int | None:
    """Create the refresh marker exclusively; its descriptor, or None when a refresh is live."""
    marker = folder / MARKER_NAME
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(marker, flags, 0o600)
    except FileExistsError:
        pass
    try:
        if time.time() - marker.stat().st_mtime < MARKER_LIFETIME:
            return None
        # Abandoned (the refresh died or was killed): replace it. Two completions racing on the
        # same expired marker within microseconds could both win; a duplicate refresh is harmless.
        marker.unlink()
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
    folder = settings.cache_dir()
    fd = _claim_marker(folder)
    if fd is None:
        return False
    try:
        pid = spawn_refresh()
    except Exception:
        os.close(fd)
        with contextlib.suppress(OSError):
            (folder / MARKER_NAME).unlink()
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
        ids = list(registry.all_specs())
    except Exception:  # a broken config.toml still completes the built-ins
        ids = [spec.id for spec in registry.BUILTINS]
    return [pid for pid in ids if pid.startswith(prefix)]


def completion_script(shell: str) -> str:
    """The completion script for `shell` ("zsh" or "bash"), to source or put on fpath."""
    if shell not in SHELLS:
        raise ValueError(f"no completion for shell {shell!r}; use one of: {', '.join(SHELLS)}")
    return (Path(__file__).parent / "shell" / f"forge-ipy.{shell}").read_text(encoding="utf-8")


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
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
