"""The credential store: keys saved by `forge-ipy login`, in a 0600 file in the config folder.

Keys never leave this module except towards the provider's own origin: nothing here logs,
prints or reprs one. Standard library only (shell completion imports it).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from pathlib import Path

from .errors import CredentialError
from .files import atomic_write
from .places import SALT_NAME, STORE_NAME
from .settings import config_dir, file_stamp

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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        raise CredentialError(
            f"the credential store {path} is unreadable; remove it and run `forge-ipy login`"
        ) from None
    keys = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v}
    _store_memo[path] = (stamp, keys)
    return keys


def save_key(provider_id: str, key: str) -> None:
    keys = dict(load_store())
    keys[provider_id] = key.strip()
    atomic_write(store_path(), json.dumps(keys, indent=2, sort_keys=True), private=True)


def delete_key(provider_id: str) -> bool:
    """Forget a saved key; True when there was one."""
    keys = dict(load_store())
    if keys.pop(provider_id, None) is None:
        return False
    atomic_write(store_path(), json.dumps(keys, indent=2, sort_keys=True), private=True)
    return True


def _read_salt(path: Path) -> bytes | None:
    """The saved salt, or None when there is none or it is damaged (cut short)."""
    with contextlib.suppress(OSError):
        salt = path.read_bytes()
        if len(salt) >= 16:
            return salt
    return None


def _salt() -> bytes:
    """This installation's random fingerprint salt, made once and shared by every process."""
    path = config_dir() / SALT_NAME
    saved = _read_salt(path)
    if saved is not None:
        return saved
    import secrets  # once per installation

    salt = secrets.token_bytes(32)
    tmp = path.with_name(f".{SALT_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return salt  # the config folder cannot be written: fingerprints last for this process
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(salt)
        # link() puts the whole file in place, or fails when one is there: processes that
        # start together never read a half-written salt and all end up with the same one.
        os.link(tmp, path)
    except FileExistsError:
        # Another process won the race since our read: use its salt. Only a damaged one
        # (cut short by a crash or a full disk) is replaced.
        saved = _read_salt(path)
        if saved is not None:
            return saved
        with contextlib.suppress(OSError):
            os.replace(tmp, path)
    except OSError:
        return salt
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _read_salt(path) or salt


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
