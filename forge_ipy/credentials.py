"""The credential store: keys saved by `forge-ipy login`, in a 0600 file in the config folder.

Keys never leave this module except towards the provider's own origin: nothing here logs,
prints or reprs one. Standard library only (shell completion imports it).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
from pathlib import Path

from .errors import CredentialError
from .files import (
    DamagedFileError,
    atomic_write,
    make_folder,
    read_json,
    read_regular,
    sweep_temp_files,
    to_json,
)
from .places import SALT_NAME, STORE_NAME, salt_paths
from .settings import config_dir, file_stamp

# typing is not imported at run time: shell completion starts in this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("forge_ipy")

_store_memo: dict[Path, tuple[tuple[int, int, int], dict[str, str]]] = {}


def store_path() -> Path:
    return config_dir() / STORE_NAME


def load_store() -> dict[str, str]:
    """Saved keys by provider id; re-read only when the file changes."""
    path = store_path()
    stamp = file_stamp(str(path))
    if stamp is None:
        return {}
    memo = _store_memo.get(path)
    if memo and memo[0] == stamp:
        return memo[1]
    keys = _read_store(path)
    _store_memo[path] = (stamp, keys)
    return keys


def _read_store(path: Path) -> dict[str, str]:
    try:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DamagedFileError("is not a JSON object")
    except FileNotFoundError:
        return {}
    except (OSError, DamagedFileError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"it {exc}"
        raise CredentialError(f"the credential store {path} is unreadable; remove it and run "
                              f"`forge-ipy login` ({why})") from None
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v}


def _change_store(change: Callable[[dict[str, str]], bool]) -> bool:
    """Read, change and write the store under a cross-process lock, so parallel `login` and
    `logout` processes each keep the others' keys. `change` edits the keys in place and says
    whether anything changed; returns that."""
    from filelock import FileLock  # writers only: completion reads the store without it

    path = store_path()
    make_folder(path.parent)
    with FileLock(path.with_name(path.name + ".lock"), timeout=10):
        keys = dict(_read_store(path))
        changed = change(keys)
        if changed:
            atomic_write(path, to_json(keys, indent=2, sort_keys=True), private=True)
    return changed


def save_key(provider_id: str, key: str) -> None:
    _change_store(lambda keys: keys.update({provider_id: key.strip()}) or True)


def delete_key(provider_id: str) -> bool:
    """Forget a saved key; True when there was one."""
    return _change_store(lambda keys: keys.pop(provider_id, None) is not None)


def _read_salt(path: Path) -> bytes | None:
    """The saved salt, or None when there is none or it is damaged (cut short, not a file)."""
    with contextlib.suppress(OSError, DamagedFileError):
        salt = read_regular(path, limit=4096)
        if len(salt) >= 16:
            return salt
    return None


def _salt() -> bytes:
    """This installation's random fingerprint salt, made once and shared by every process.

    It lives in the config folder, or in the cache folder when the config folder cannot take
    it (read-only): a salt that changed with each process would make every cached list
    unmatchable, so every process would fetch again.
    """
    places = tuple(map(Path, salt_paths()))
    for path in places:
        saved = _read_salt(path)
        if saved is not None:
            return saved
    import secrets  # once per installation

    fresh = secrets.token_bytes(32)
    for path in places:
        made = _place_salt(path, fresh)
        if made is not None:
            if path is not places[0]:
                log.warning("cannot save the fingerprint salt in %s; keeping it in %s",
                            places[0].parent, path.parent)
            return made
    log.warning("cannot save the fingerprint salt in %s or %s; cached lists last for this "
                "process only", places[0].parent, places[1].parent)
    return fresh


def _place_salt(path: Path, salt: bytes) -> bytes | None:
    """Save `salt` at `path` unless another process saved one first; the salt now there,
    or None when `path` cannot hold one."""
    import secrets

    tmp = path.with_name(f".{SALT_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        make_folder(path.parent)
        sweep_temp_files(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(salt)
        # link() puts the whole file in place, or fails when one is there: processes that
        # start together never read a half-written salt and all end up with the same one.
        os.link(tmp, path)
    except FileExistsError:
        # Another process won the race since our read: use its salt. Only a damaged one
        # (cut short by a crash or a full disk) is replaced.
        if _read_salt(path) is None:
            with contextlib.suppress(OSError):
                os.replace(tmp, path)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _read_salt(path)


_fingerprints: dict[tuple[Path, str | None, str], str] = {}


def fingerprint(key: str | None, root: str) -> str:
    """A salted HMAC of credential and API root: equal for equal inputs, useless to an attacker."""
    memo_key = (config_dir(), key, root)
    found = _fingerprints.get(memo_key)
    if found is None:
        message = f"{key or ''}\0{root}".encode()
        found = hmac.new(_salt(), message, hashlib.sha256).hexdigest()[:32]
        _fingerprints[memo_key] = found
    return found


def forget_fingerprints() -> None:
    """Drop memoised fingerprints (tests that swap the config folder call this)."""
    _fingerprints.clear()
