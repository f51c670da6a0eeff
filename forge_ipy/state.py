"""The selection (`state.json`): active provider and model, recently used, favourites.

Provider and model are written together in one atomic replace, so no reader ever sees the
new provider paired with the old model. Every kernel, the terminal and the CLI share it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .domain import Selection
from .files import DamagedFileError, atomic_write, make_folder, read_json, to_json
from .settings import config_dir

STATE_NAME = "state.json"
RECENTS_KEPT = 10
log = logging.getLogger("forge_ipy")


@dataclass(frozen=True)
class State:
    selection: Selection | None = None
    recents: tuple[str, ...] = ()  # full names, most recent first
    favourites: tuple[str, ...] = ()


def state_path() -> Path:
    return config_dir() / STATE_NAME


def load_state() -> State:
    """The saved state; a damaged file reads as empty, with a one-line warning."""
    path = state_path()
    try:
        data = read_json(path)
    except FileNotFoundError:
        return State()
    except (OSError, DamagedFileError) as exc:
        log.warning("ignoring %s (%s); the next selection rewrites it", path, exc)
        return State()
    if not isinstance(data, dict):
        log.warning("ignoring %s (not a JSON object); the next selection rewrites it", path)
        return State()
    selection = None
    if isinstance(data.get("provider_id"), str) and isinstance(data.get("model"), str):
        selection = Selection(provider_id=data["provider_id"], model=data["model"])
    return State(selection, _names(data.get("recents")), _names(data.get("favourites")))


def _names(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _update(change: Callable[[State], State]) -> State:
    from filelock import FileLock

    path = state_path()
    make_folder(path.parent)
    with FileLock(path.with_name(path.name + ".lock"), timeout=10):
        state = change(load_state())
        payload = {
            "provider_id": state.selection.provider_id if state.selection else None,
            "model": state.selection.model if state.selection else None,
            "recents": list(state.recents),
            "favourites": list(state.favourites),
        }
        atomic_write(path, to_json(payload, indent=2), private=True)
    return state


def save_selection(selection: Selection) -> State:
    """Set provider and model together and put the model first among the recents."""
    name = selection.full_name

    def change(state: State) -> State:
        recents = (name, *(r for r in state.recents if r != name))[:RECENTS_KEPT]
        return replace(state, selection=selection, recents=recents)

    return _update(change)


def toggle_favourite(full_name: str) -> State:
    def change(state: State) -> State:
        if full_name in state.favourites:
            return replace(state, favourites=tuple(f for f in state.favourites if f != full_name))
        return replace(state, favourites=(*state.favourites, full_name))

    return _update(change)
