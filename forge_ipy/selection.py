"""Choosing the active model: resolving a name, saving the pick, reading it back.

The service verbs `select`, `resolve_name` and `current` live here; they take the model list
from the catalog (catalog.py, the cache policy) and save the pick in state.json (state.py).
Runs on the caller's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .domain import Model, ModelListing, Selection, split_full_name
from .errors import SelectionError
from .providers.registry import all_specs, how_to_log_in, is_logged_in, resolve
from .state import load_state, save_selection

if TYPE_CHECKING:
    from .catalog import Catalog


@dataclass(frozen=True)
class SelectionChange:
    previous: Selection | None
    selection: Selection
    provider_name: str

    @property
    def provider_switched(self) -> bool:
        return self.previous is None or self.previous.provider_id != self.selection.provider_id

    @property
    def message(self) -> str:
        text = f"Switched to model: {self.selection.model}"
        return text + (f" on provider: {self.provider_name}" if self.provider_switched else "")


@dataclass(frozen=True)
class CurrentModel:
    """The active selection as code needs it. Never holds the key."""

    provider_id: str
    provider_name: str
    model: str
    api_root: str | None
    info: Model | None

    @property
    def full_name(self) -> str:
        return f"{self.provider_id}/{self.model}"


def select(catalog: Catalog, name: str,
           settings: Mapping[str, object] | None = None) -> SelectionChange:
    """Make `provider/model` (or an unambiguous bare model id) the active model.

    Provider and model are saved together in one write. Raises SelectionError with the
    reason and close matches when the name is unknown, ambiguous or not logged in.
    """
    model = resolve_name(catalog, name, settings)
    previous = load_state().selection
    selection = Selection(provider_id=model.provider_id, model=model.id)
    save_selection(selection)
    return SelectionChange(previous, selection, all_specs()[model.provider_id].name)


def resolve_name(catalog: Catalog, name: str,
                 settings: Mapping[str, object] | None = None) -> Model:
    """The model `name` stands for; SelectionError when none or several do."""
    name = name.strip()
    if not name:
        raise SelectionError("give a model name, e.g. openai/gpt-4o")
    provider_id, _ = split_full_name(name)
    specs = all_specs()
    if provider_id in specs:
        access = resolve(specs[provider_id])
        if not is_logged_in(access):
            raise SelectionError(f"{provider_id} is not logged in; {how_to_log_in(access)}")
    listing = catalog.get_all_models(settings=settings)
    exact = [m for m in listing if m.full_name == name]
    if not exact and provider_id not in specs:
        # A bare id. A name that starts with a provider's id means that provider's model,
        # never another's id that happens to read the same (OpenRouter's `openai/gpt-4o`).
        exact = [m for m in listing if m.id == name]
    if len(exact) == 1:
        return _chat_model(exact[0])
    if len(exact) > 1:
        names = tuple(m.full_name for m in exact)
        raise SelectionError(f"{name!r} is offered by several providers; pick one: "
                             f"{', '.join(names)}", names)
    raise _unknown(name, listing, provider_id if provider_id in specs else None)


def _chat_model(model: Model) -> Model:
    """`model`, if it answers chat requests; SelectionError naming what it is otherwise."""
    if not model.listed_by_default:
        article = "an" if str(model.kind)[:1] in "aeiou" else "a"
        what = "retired: it no longer answers" if model.status == "retired" else \
            f"{article} {model.kind} model, not a chat model"
        raise SelectionError(f"{model.full_name} is {what}; pick a chat model "
                             "(`forge-ipy models` lists them)")
    return model


def _unknown(name: str, listing: ModelListing, provider_id: str | None) -> SelectionError:
    from .accounts import every_provider_failed, not_logged_in

    if not listing.providers:
        return SelectionError(f"cannot check {name!r}: {not_logged_in()[0]}")
    failed = every_provider_failed(listing)
    if failed:
        return SelectionError(f"cannot check {name!r}: {failed}")
    status = listing.status(provider_id) if provider_id else None
    if provider_id and status is not None and not status.ok and not status.model_count:
        return SelectionError(f"cannot check {name!r}: {provider_id} failed ({status.error})")
    close = close_names(name, listing)
    hint = f"; did you mean: {', '.join(close)}?" if close else \
        "; `forge-ipy models` lists them all"
    return SelectionError(f"unknown model {name!r}{hint}", close)


def close_names(name: str, listing: ModelListing, most: int = 5) -> tuple[str, ...]:
    """Full names that contain `name`, then those spelled like it (as full name or bare id)."""
    import difflib  # only for a name that matched nothing

    listed = listing.filter()  # only names `select` would take
    full = [m.full_name for m in listed]
    lowered = name.lower()
    similar_ids = set(difflib.get_close_matches(name, {m.id for m in listed}, most, 0.6))
    found = [n for n in full if lowered in n.lower()]
    found += difflib.get_close_matches(name, full, most, 0.6)
    found += [m.full_name for m in listed if m.id in similar_ids]
    return tuple(dict.fromkeys(found))[:most]


def current(catalog: Catalog) -> CurrentModel | None:
    """The active provider and model, with the model's facts when its list is cached."""
    selection = load_state().selection
    if selection is None:
        return None
    spec = all_specs().get(selection.provider_id)
    access = resolve(spec) if spec else None
    info = None
    if access is not None:
        info = next((m for m in catalog.cached_models(access) if m.id == selection.model), None)
    return CurrentModel(selection.provider_id, spec.name if spec else selection.provider_id,
                        selection.model, access.shown_root if access else None, info)
