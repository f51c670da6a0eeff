"""Who is logged in, remembered for shell completion: `logins.txt` in the cache folder.

Which cached lists completion may offer depends on every provider's fingerprint, and working
those out takes the provider table, config.toml, the credential store and the settings: more
imports than one TAB can afford. So the first completion after anything changed works them
out (`compute`, through the registry, exactly as a kernel does) and saves the answer under a
salted MAC of everything it depends on: the values of the variables
`registry.environment_variables` names and of the two cache settings, and the stamps of
config.toml, the credential store, the salt and the provider table's source. Later completions
recompute only that digest: any change gives another digest, and the answer is worked out
again. So whatever can change a fingerprint must be among those inputs (the in-process memo
of `registry.logged_in` relies on the same list).

Holds no secret (the fingerprints are in models.json already; the inputs only as a MAC
keyed with the fingerprint salt: keyed BLAKE2). Imports os only (and `_blake2`); lines of
tab-separated fields rather than JSON, whose import (json, re) would cost a TAB more than all
the rest. The registry loads only on a miss.
"""

from __future__ import annotations

import os

from . import places
from .files import read_regular

try:  # hashlib's own BLAKE2, without hashlib loading OpenSSL: a TAB cannot spare that
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b

# typing is not imported at run time: shell completion starts here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MEMO_NAME = "logins.txt"
_HEADER = "forge-ipy logins\t1"
MOST_MEMOS = 8  # shells with different keys each keep theirs
SETTING_VARIABLES = ("FORGE_MODEL_CACHE_STRATEGY", "FORGE_MODEL_CACHE_TTL_SECONDS")
_TABLE_SOURCE = os.path.join(os.path.dirname(__file__), "providers", "registry.py")


def current() -> dict[str, Any]:
    """Who is logged in now, as `compute` says; from the memo when nothing changed.

    `providers`: [id, fingerprint, expected] for each logged-in provider, where `expected`
    means a missing cache entry calls for a refresh (not so for a local server at its
    default root, which may just not be running); `known`: every provider id; `strategy` and
    `ttl`: the cache settings (None when one is invalid). Raises what the registry raises on
    a broken config.toml.
    """
    memos = _read_memos()
    salt = _salt()
    if salt is not None:
        for memo in memos:
            if memo["digest"] == _digest(salt, memo["variables"]):
                return memo["logins"]
    variables, logins = compute()
    salt = _salt()  # computing fingerprints makes the salt when there was none
    if salt is not None:
        _save(memos, {"digest": _digest(salt, variables), "variables": variables,
                      "logins": logins})
    return logins


def compute() -> tuple[list[str], dict[str, Any]]:
    """The variables that matter, and who is logged in, worked out through the registry."""
    from . import settings
    from .providers import registry

    specs = registry.all_specs()
    providers = []
    for spec in specs.values():
        access = registry.resolve(spec)
        if registry.is_logged_in(access):
            expected = not (spec.keyless and not access.root_explicit)
            providers.append([spec.id, access.fingerprint, expected])
    try:
        found = settings.resolve_settings()
        strategy, ttl = found.model_cache_strategy, found.model_cache_ttl_seconds
    except Exception:  # a bad setting: still complete; a refresh would fail on it anyway
        strategy, ttl = None, None
    variables = sorted({*registry.environment_variables(specs.values()), *SETTING_VARIABLES})
    return variables, {"providers": providers, "known": list(specs), "strategy": strategy,
                       "ttl": ttl}


def _digest(salt: bytes, variables: list[str]) -> str:
    config = places.config_folder()
    # NAME=value, or NAME alone when unset; NUL between them, which no value can hold.
    parts = [name if os.environ.get(name) is None else f"{name}={os.environ[name]}"
             for name in variables]
    parts += [repr(places.file_stamp(os.path.join(config, name)))
              for name in (places.CONFIG_NAME, places.STORE_NAME)]
    parts += [repr(places.file_stamp(path)) for path in places.salt_paths()]
    parts.append(repr(places.file_stamp(_TABLE_SOURCE)))
    # BLAKE2 takes a key of at most 64 bytes; the salt is 32 (a damaged one is cut, which
    # only means that memos made with it miss once it is replaced).
    return blake2b("\0".join(parts).encode(), key=salt[:64], digest_size=32).hexdigest()


def _salt() -> bytes | None:
    """The salt's bytes, wherever it lives; which one the fingerprints use matters not:
    both files' stamps are inputs of the digest, so replacing either misses the memo."""
    for path in places.salt_paths():
        try:
            salt = read_regular(path, 4096)
        except (OSError, ValueError):  # absent, or damaged (a pipe is never waited on)
            continue
        if salt:
            return salt
    return None


def _path() -> str:
    return os.path.join(places.cache_folder(), MEMO_NAME)


def _read_memos() -> list[dict[str, Any]]:
    """The saved memos; [] when there are none or the file is damaged.

    Each memo is a line `M digest strategy ttl`, then `V` (the variables), `K` (every
    provider id) and one `L id fingerprint 0|1` per logged-in provider; tab-separated.
    """
    try:
        lines = read_regular(_path()).decode().split("\n")
    except (OSError, ValueError):  # absent, damaged, not UTF-8
        return []
    if lines[0] != _HEADER:
        return []
    memos: list[dict[str, Any]] = []
    try:
        for line in lines[1:]:
            kind, *fields = line.split("\t")
            if kind == "M":
                digest, strategy, ttl = fields
                memos.append({"digest": digest, "variables": [], "logins": {
                    "providers": [], "known": [], "strategy": strategy or None,
                    "ttl": float(ttl) if ttl else None}})
            elif kind == "V":
                memos[-1]["variables"] = fields
            elif kind == "K":
                memos[-1]["logins"]["known"] = fields
            elif kind == "L":
                pid, fingerprint, expected = fields
                memos[-1]["logins"]["providers"].append([pid, fingerprint, expected == "1"])
    except (ValueError, IndexError):  # a damaged line: work it out again
        return []
    return memos


def _memo_lines(memo: dict[str, Any]) -> list[str]:
    logins = memo["logins"]
    ttl = "" if logins["ttl"] is None else repr(logins["ttl"])
    lines = ["\t".join(["M", memo["digest"], logins["strategy"] or "", ttl]),
             "\t".join(["V", *memo["variables"]]), "\t".join(["K", *logins["known"]])]
    lines += ["\t".join(["L", pid, fingerprint, "1" if expected else "0"])
              for pid, fingerprint, expected in logins["providers"]]
    return lines


def _save(memos: list[dict[str, Any]], memo: dict[str, Any]) -> None:
    """Put `memo` first, keeping the most recent others; a failure only costs speed.

    A memo holding text that is not printable (a provider id with a tab) is not saved: that
    setup is worked out on every TAB.
    """
    import contextlib
    from pathlib import Path

    from .files import atomic_write

    lines = _memo_lines(memo)
    if not all(field.isprintable() for line in lines for field in line.split("\t")):
        return
    kept = [memo, *(m for m in memos if m["digest"] != memo["digest"])][:MOST_MEMOS]
    text = "\n".join([_HEADER, *(line for m in kept for line in _memo_lines(m))]) + "\n"
    with contextlib.suppress(OSError):
        atomic_write(Path(_path()), text)
