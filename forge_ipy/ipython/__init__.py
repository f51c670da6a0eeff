"""The IPython extension: `%load_ext forge_ipy` registers the magics and the completer.

Loading does no network call and no heavy import: the file cache is read and stale providers
refreshed on a background thread, so the prompt comes back at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("forge_ipy")


def load(ipython: Any) -> None:
    from .completion import register
    from .magics import ForgeMagics

    _drop_invalid_settings(ipython.config)
    magics = ForgeMagics(shell=ipython, config=ipython.config)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:  # recent IPython adds it in Magics.__init__
        ipython.configurables.append(magics)  # so `%config ForgeMagics` finds it
    register(ipython)
    threading.Thread(target=_warm, args=(magics.settings(),), name="forge-ipy-warm",
                     daemon=True).start()


def unload(ipython: Any) -> None:
    from .completion import unregister
    from .magics import ForgeMagics

    unregister(ipython)
    magics = ipython.magics_manager.registry.pop(ForgeMagics.__name__, None)
    if magics is None:
        return
    for kind, names in ForgeMagics.magics.items():
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    while magics in ipython.configurables:
        ipython.configurables.remove(magics)
    _keep_settings(ipython.config, magics)


def _drop_invalid_settings(config: Any) -> None:
    """Leave out (with a warning) setting values that would make loading fail.

    `%config ForgeMagics.x = bad` is refused by the magics, but the shell's own config keeps
    the value, so without this a later `%reload_ext` would stop on it with a traceback.
    """
    from ..errors import ForgeError
    from ..settings import SETTING_NAMES, validate

    if "ForgeMagics" not in config:
        return
    section = config["ForgeMagics"]
    for name in SETTING_NAMES:
        value = section.get(name)
        if value is None:
            continue
        try:
            validate(name, value, "config")
        except ForgeError as exc:
            log.warning("forge-ipy: ignoring ForgeMagics.%s: %s", name, exc)
            del section[name]


def _keep_settings(config: Any, magics: Any) -> None:
    """Put the settings in force back into the shell's config, so a reload keeps them."""
    from ..settings import SETTING_NAMES

    section = config.ForgeMagics
    for name in SETTING_NAMES:
        value = getattr(magics, name)
        if value is None:
            section.pop(name, None)
        else:
            section[name] = value


def _warm(settings: dict[str, object]) -> None:
    """Read the shared cache into memory and refresh what is stale or missing."""
    try:
        from ..catalog import get_catalog

        get_catalog().get_all_models(settings=settings)
    except Exception as exc:  # a warm-up must never disturb the session
        log.debug("forge-ipy warm-up failed: %s", exc)
