"""forge-ipy: every model of every logged-in LLM provider in one list, and one place to pick.

In IPython or Jupyter: `%load_ext forge_ipy`, then `%forge_models` and `%forge_select`.
From Python: `get_all_models()`, `select(name)`, `current()`, then `chat(prompt)` or
`client()` to use the pick. From a shell: `forge-ipy`.

Imports are lazy so that `%load_ext` and shell completion stay fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: shell completion imports this package on every Tab
__version__ = "0.1.0"
__all__ = [
    "ForgeError",
    "Model",
    "ModelListing",
    "Reply",
    "achat",
    "chat",
    "client",
    "current",
    "get_all_models",
    "load_ipython_extension",
    "refresh",
    "select",
    "stats",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from typing import Any

    from . import chat
    from .catalog import current, get_all_models, refresh, select, stats
    from .chat import Reply, achat, client
    from .domain import Model, ModelListing
    from .errors import ForgeError

_LAZY = {
    "get_all_models": "catalog", "select": "catalog", "current": "catalog",
    "refresh": "catalog", "stats": "catalog", "Model": "domain", "ModelListing": "domain",
    "ForgeError": "errors", "Reply": "chat", "achat": "chat", "client": "chat",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "chat":  # the subpackage is itself callable: forge_ipy.chat("...")
        return importlib.import_module(".chat", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'forge_ipy' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    """The lazy names too, so `forge_ipy.<Tab>` offers them before first use."""
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    from .ipython import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .ipython import unload

    unload(ipython)
