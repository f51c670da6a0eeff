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

    magics = ForgeMagics(shell=ipython, config=ipython.config)
    ipython.register_magics(magics)
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
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)


def _warm(settings: dict[str, object]) -> None:
    """Read the shared cache into memory and refresh what is stale or missing."""
    try:
        from ..catalog import get_catalog

        get_catalog().get_all_models(settings=settings)
    except Exception as exc:  # a warm-up must never disturb the session
        log.debug("forge-ipy warm-up failed: %s", exc)
