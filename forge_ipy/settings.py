"""Where things live and what the user set.

Resolution order for every setting: explicit argument > `%config ForgeMagics.<name>` >
environment > `config.toml` > default. The first two arrive here as `overrides`.
Standard library only: shell completion imports this module and must stay fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingError
from .places import CONFIG_NAME, cache_folder, config_folder, file_stamp

# typing is not imported at run time: shell completion starts in this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STRATEGIES = ("aggressive", "moderate", "fresh")
REFRESH_MODES = ("background", "block")


def config_dir() -> Path:
    """Folder of `config.toml`, the credential store and `state.json`."""
    return _as_path(config_folder())


def cache_dir() -> Path:
    """Folder of the shared model cache `models.json`."""
    return _as_path(cache_folder())


@functools.lru_cache(maxsize=32)
def _as_path(folder: str) -> Path:
    # Called on every list request: the Path is built once per distinct folder.
    return Path(folder)


_config_memo: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def load_config() -> dict[str, Any]:
    """`config.toml` as a dict ({} when absent), re-read only when the file changes."""
    path = os.path.join(config_folder(), CONFIG_NAME)
    stamp = file_stamp(path)
    if stamp is None:
        return {}
    memo = _config_memo.get(path)
    if memo and memo[0] == stamp:
        return memo[1]
    import tomllib  # here: most people have no config.toml, and completion must start fast

    from .files import read_regular

    try:
        data = tomllib.loads(read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:  # damage of any kind: not UTF-8, not
        # a regular file (ValueError, as TOMLDecodeError is), a number of 5000 digits
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
        raise SettingError(f"{path} is not valid TOML ({why}); fix or remove the file") from None
    _config_memo[path] = (stamp, data)
    _warn_unknown_keys(path, data)
    return data


# Top-level tables of config.toml that are not settings.
_CONFIG_TABLES = ("providers",)
_warned: set[tuple[str, str]] = set()


def _warn_unknown_keys(path: str, data: dict[str, Any]) -> None:
    """Warn once per key about a top-level key no setting has (a typo would otherwise be
    silently ignored), naming the closest known one."""
    known = (*SETTING_NAMES, *_CONFIG_TABLES)
    unknown = [k for k in data if k not in known and (path, k) not in _warned]
    if not unknown:
        return
    import difflib
    import logging

    for key in unknown:
        _warned.add((path, key))
        close = difflib.get_close_matches(key, known, 1, 0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        logging.getLogger("forge_ipy").warning(
            "forge-ipy: %s: unknown setting %r is ignored; %s", path, key, hint)


@dataclass(frozen=True)
class Settings:
    model_cache_strategy: str = "moderate"
    model_cache_ttl_seconds: float = 3600.0
    model_cache_refresh: str = "background"
    provider_timeout_seconds: float = 10.0
    model_facts_url: str = "https://models.dev/api.json"
    chat_timeout_seconds: float = 120.0


SETTING_NAMES = tuple(Settings.__dataclass_fields__)
_DEFAULTS = Settings()


def _env_name(name: str) -> str:
    return "FORGE_" + name.upper()


def _choice(name: str, value: object, allowed: tuple[str, ...], origin: str) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise SettingError(
            f"{name} = {value!r} ({origin}) is not allowed; use one of: {', '.join(allowed)}"
        )
    return text


# The most each number of seconds may be: asyncio's timers overflow on huge values, and a
# longer wait or TTL is a typo, not a wish.
MAX_SECONDS = {"provider_timeout_seconds": 3600.0, "model_cache_ttl_seconds": 366 * 86400.0,
               "chat_timeout_seconds": 3600.0}


def _positive(name: str, value: object, origin: str) -> float:
    try:
        number = float("nan") if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    most = MAX_SECONDS[name]
    if not 0 < number <= most:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:30]}…"
        raise SettingError(f"{name} = {shown} ({origin}) must be a number of seconds "
                           f"above 0 and at most {most:g}")
    return number


def _url_or_off(name: str, value: object, origin: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() == "off":
        return "off"
    if text.startswith(("http://", "https://")) and len(text) > len("https://") and not any(
            c.isspace() or ord(c) < 32 for c in text):
        return text
    # The value is not echoed: a URL may carry a password.
    raise SettingError(f"{name} ({origin}) must be an http(s):// URL of a models.dev-style "
                       "api.json, or off")


def validate(name: str, value: object, origin: str = "argument") -> object:
    """Check one setting's value and return it normalised; raise SettingError otherwise."""
    if name == "model_cache_strategy":
        return _choice(name, value, STRATEGIES, origin)
    if name == "model_cache_refresh":
        return _choice(name, value, REFRESH_MODES, origin)
    if name in ("model_cache_ttl_seconds", "provider_timeout_seconds", "chat_timeout_seconds"):
        return _positive(name, value, origin)
    if name == "model_facts_url":
        return _url_or_off(name, value, origin)
    raise SettingError(f"unknown setting {name!r}; known settings: {', '.join(SETTING_NAMES)}")


_ENV_NAMES = tuple(_env_name(name) for name in SETTING_NAMES)
_settings_memo: dict[tuple, Settings] = {}


def resolve_settings(overrides: Mapping[str, object] | None = None) -> Settings:
    """The settings in force now. `overrides` holds explicit arguments and `%config` values.

    Called on every list request: the answer is reused while its inputs (the overrides, the
    variables, config.toml) are the same."""
    given = tuple((k, v) for k, v in (overrides or {}).items() if v is not None)
    key = (given, tuple(map(os.environ.get, _ENV_NAMES)),
           file_stamp(os.path.join(config_dir(), "config.toml")))
    try:
        found = _settings_memo.get(key)
    except TypeError:  # an unhashable override: check it the long way (and refuse it there)
        return _resolve(overrides)
    if found is None:
        found = _resolve(overrides)
        if len(_settings_memo) > 64:
            _settings_memo.clear()
        _settings_memo[key] = found
    return found


def _resolve(overrides: Mapping[str, object] | None) -> Settings:
    overrides = overrides or {}
    config = None
    values: dict[str, object] = {}
    for name in SETTING_NAMES:
        if overrides.get(name) is not None:
            values[name] = validate(name, overrides[name])
            continue
        env = os.environ.get(_env_name(name))
        if env:
            values[name] = validate(name, env, f"from ${_env_name(name)}")
            continue
        if config is None:
            config = load_config()
        if name in config:
            values[name] = validate(name, config[name], "from config.toml")
    return Settings(**values) if values else _DEFAULTS  # type: ignore[arg-type]
