"""The model picker: every provider's models in one searchable list, grouped by provider.

An anywidget (an ipywidgets DOM widget carrying its own small ES module, `widget.js`), so it
renders in JupyterLab 4, Notebook 7 and VS Code with nothing of ours installed in the front
end. ipywidgets' `Dropdown` cannot group options; `widget.js` draws a native `<select>` list
with real `<optgroup>` sections, a search box and a refresh button.

State kept small on purpose (2,000 models must stay smooth): a handful of traits, the models
as one compact table (`groups`), never one trait per model. The front end talks back with
custom messages only::

    {"type": "select", "value": "openai/gpt-4o"}     pick a model (provider switches with it)
    {"type": "refresh"}                              refetch every provider
    {"type": "favourite", "value": "openai/gpt-4o"}  add or remove a favourite

The list is progressive: the widget shows the cache at once (or nothing), then each provider's
group as its fetch finishes. Fetch callbacks arrive on the package's event-loop thread; each
one becomes a single state message.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..accounts import not_logged_in
from ..catalog import Catalog, SelectionChange, get_catalog
from ..domain import Model, ModelListing, ProviderStatus
from ..errors import ForgeError
from ..formatting import new_models
from ..groups import groups_text, model_cells, model_groups

log = logging.getLogger("forge_ipy")

# A model name longer than this is no model name; the front end never sends one.
_MAX_NAME = 1000


class ModelPicker(anywidget.AnyWidget):
    """Pick the active model from every logged-in provider's list.

    Parameters
    ----------
    catalog
        The service to ask; the process's catalog by default.
    settings
        Setting overrides (`%config ForgeMagics.<name>` values), passed to every fetch and
        selection.

    Synced traits
    -------------
    groups
        ``[{id, label, kind, disabled, reason, options: [[full_name, id, context, tools,
        reasoning, price, new], ...]}, ...]``, as `groups.model_groups` orders and labels
        them for the terminal chooser too: Favourites and Recent first, then one group per
        provider. ``kind`` is ``favourites``, ``recents`` or ``provider``; a failed provider
        with nothing cached is a ``disabled`` group with no options and the ``reason``. An
        option's cells are `groups.model_cells` (the id is ``provider/id`` in Favourites and
        Recent) and ``new`` when the last refresh brought the model.
    value
        The active model's full name (``provider/model``), or ``""``. Set by the kernel.
    status, status_kind
        The last action's one-line outcome (``Switched to model: X on provider: Y``) and
        ``info`` or ``error``.
    loading, busy
        Provider ids still being fetched, and whether a fetch is under way at all.
    """

    _esm = Path(__file__).with_name("widget.js")
    _css = Path(__file__).with_name("widget.css")

    groups: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    status_kind = traitlets.Unicode("info").tag(sync=True)
    loading = traitlets.List(traitlets.Unicode()).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(self, catalog: Catalog | None = None,
                 settings: Mapping[str, object] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._catalog = catalog if catalog is not None else get_catalog()
        self._settings = dict(settings or {})
        self._lock = threading.RLock()
        self._generation = 0
        self._closed = False
        # provider id -> (status, models); what the groups are built from
        self._providers: dict[str, tuple[ProviderStatus, tuple[Model, ...]]] = {}
        self._favourites: tuple[str, ...] = ()
        self._recents: tuple[str, ...] = ()
        self._new: frozenset[str] = frozenset()  # models the last refresh brought
        self._done = threading.Event()
        self._done.set()
        self.on_msg(self._on_frontend_msg)
        self._start()

    def __repr__(self) -> str:
        count = sum(len(models) for _, models in self._providers.values())
        return (f"<ModelPicker value={self.value!r}: {count} models from "
                f"{len(self._providers)} providers>")

    # -- public -------------------------------------------------------------------------
    def select(self, full_name: str) -> SelectionChange | None:
        """Make `full_name` the active model, as `%forge_select provider/model` does.

        Shows the outcome in the widget; returns the change, or None when it was refused.
        """
        try:
            change = self._catalog.select(full_name, settings=self._settings)
        except ForgeError as exc:
            self._push(status=str(exc), status_kind="error")
            return None
        with self._lock:
            self._load_names()
            self._push(value=change.selection.full_name, status=change.message,
                       status_kind="info", groups=self._build_groups())
        return change

    def refresh(self) -> concurrent.futures.Future[ModelListing] | None:
        """Refetch every provider's list; groups fill in again as each one answers."""
        return self._fetch(refresh=True)

    def toggle_favourite(self, full_name: str) -> tuple[str, ...]:
        """Add `full_name` to the favourites, or remove it; returns the favourites."""
        try:
            favourites = self._catalog.toggle_favourite(full_name)
        except (ForgeError, OSError) as exc:
            self._push(status=f"could not save favourites: {exc}", status_kind="error")
            return self._favourites
        added = full_name in favourites
        with self._lock:
            self._favourites = favourites
            self._push(groups=self._build_groups(), status_kind="info",
                       status=f"{'Added' if added else 'Removed'} {full_name} "
                              f"{'to' if added else 'from'} favourites")
        return favourites

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current fetch has finished and shown; False on timeout."""
        return self._done.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._generation += 1
        self._done.set()
        super().close()

    # -- fetching -----------------------------------------------------------------------
    def _start(self) -> None:
        """Show what is known at once (selection, cache), then start the progressive fetch."""
        try:
            current = self._catalog.current()
            cached = self._catalog.cached()
        except ForgeError as exc:
            self._push(status=str(exc), status_kind="error")
            return
        with self._lock:
            self._load_names()
            self._providers = _by_provider(cached)
            self._new = cached.new
            self._push(value=current.full_name if current else "",
                       groups=self._build_groups())
        self._fetch(refresh=False)

    def _fetch(self, *, refresh: bool) -> concurrent.futures.Future[ModelListing] | None:
        with self._lock:
            if self._closed:
                return None
            self._generation += 1
            generation = self._generation
            self._done.clear()
            self._push(busy=True, loading=[])
        try:
            future = self._catalog.start(refresh=refresh, settings=self._settings,
                                         on_update=partial(self._on_update, generation))
        except ForgeError as exc:
            with self._lock:
                if generation == self._generation:
                    self._push(busy=False, status=str(exc), status_kind="error")
                    self._done.set()
            return None
        future.add_done_callback(partial(self._on_done, generation))
        return future

    def _on_update(self, generation: int, listing: ModelListing,
                   waiting: tuple[str, ...]) -> None:
        """One provider finished (a worker thread of the catalog): show it, keep the ones still
        waiting."""
        try:
            with self._lock:
                if generation != self._generation:
                    return
                fresh = _by_provider(listing)
                # Providers still fetching keep what they showed (their cached list).
                kept = {pid: self._providers[pid] for pid in waiting if pid in self._providers}
                self._providers = {**kept, **fresh}
                self._new = self._new | listing.new
                self._push(groups=self._build_groups(), loading=list(waiting))
        except Exception:  # never let a display problem stop the fetch
            log.exception("model picker: could not show a provider's update")

    def _on_done(self, generation: int,
                 future: concurrent.futures.Future[ModelListing]) -> None:
        try:
            with self._lock:
                if generation != self._generation:
                    return
                error = None if future.cancelled() else future.exception()
                if future.cancelled() or error is not None:
                    message = str(error) if isinstance(error, ForgeError) else \
                        f"fetching the model lists failed: {error or 'cancelled'}"
                    self._push(busy=False, loading=[], status=message, status_kind="error")
                    return
                listing = future.result()
                self._providers = _by_provider(listing)
                self._new = listing.new
                status = {}
                if not listing.providers:
                    status = {"status": not_logged_in((), "%forge_providers")[0],
                              "status_kind": "error"}
                elif listing.new:
                    status = {"status": new_models(listing), "status_kind": "info"}
                self._push(groups=self._build_groups(), busy=False, loading=[], **status)
        except Exception:
            log.exception("model picker: could not show the model lists")
        finally:
            with self._lock:
                if generation == self._generation:
                    self._done.set()

    # -- state --------------------------------------------------------------------------
    def _load_names(self) -> None:
        self._favourites = self._catalog.favourites()
        self._recents = self._catalog.recents()

    def _listing(self) -> ModelListing:
        statuses = tuple(status for status, _ in self._providers.values())
        models = tuple(m for _, models in self._providers.values() for m in models)
        return ModelListing(models, statuses, self._new)

    def _build_groups(self) -> list[dict[str, Any]]:
        return picker_groups(self._listing(), self._favourites, self._recents)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Where widgets cannot be drawn (VS Code reopening a notebook, nbconvert), the
        text/plain beside the widget view is the list itself, grouped as the picker draws it."""
        bundle = super()._repr_mimebundle_(**kwargs)  # anywidget: (data, metadata)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            with self._lock:
                groups = model_groups(self._listing(), self._favourites, self._recents)
                data["text/plain"] = groups_text(groups, self._new) or repr(self)
        return bundle

    def _push(self, **traits: object) -> None:
        """Set several traits as one state message to the front end.

        Under the lock: the event-loop thread and the kernel's thread both push, and
        `hold_sync` must not gather one thread's changes into the other's message.
        """
        with self._lock:
            if self._closed:
                return
            with self.hold_sync():
                for name, value in traits.items():
                    setattr(self, name, value)

    # -- messages from the front end ----------------------------------------------------
    def _on_frontend_msg(self, _widget: object, content: object,
                         _buffers: Sequence[object]) -> None:
        if not isinstance(content, dict):
            return
        kind, value = content.get("type"), content.get("value")
        named = isinstance(value, str) and 0 < len(value) <= _MAX_NAME
        try:
            if kind == "select" and named:
                self.select(value)  # type: ignore[arg-type]
            elif kind == "refresh":
                self.refresh()
            elif kind == "favourite" and named:
                self.toggle_favourite(value)  # type: ignore[arg-type]
            else:
                log.debug("model picker: ignored message %r", kind)
        except OSError as exc:  # e.g. state.json cannot be written
            self._push(status=f"could not save the selection: {exc}", status_kind="error")


def picker(**settings: object) -> ModelPicker:
    """The model picker as a widget, for any front end that shows anywidgets: Jupyter
    (`%forge_select` shows the same), marimo (`mo.ui.anywidget(forge_ipy.picker())`).

    `settings` override the environment and config.toml for its fetches, as `%config
    ForgeMagics` does (e.g. ``model_cache_strategy="fresh"``).
    """
    return ModelPicker(settings=settings)


def picker_groups(listing: ModelListing, favourites: Sequence[str] = (),
                  recents: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The `groups` trait: groups.model_groups decides the groups, their order and labels,
    as for the terminal chooser; each option is the model's cells."""
    new = listing.new
    return [
        {"id": g.id, "label": g.label, "kind": g.kind, "reason": g.reason,
         "disabled": g.failed and not g.models,
         "options": [[m.full_name, *model_cells(m, g.shortcut),
                      "new" if m.full_name in new else ""] for m in g.models]}
        for g in model_groups(listing, favourites, recents)]


def _by_provider(listing: ModelListing) -> dict[str, tuple[ProviderStatus, tuple[Model, ...]]]:
    """The models the picker offers (chat models, not retired), by provider."""
    models = listing.filter().by_provider()
    return {status.id: (status, tuple(models.get(status.id, ())))
            for status in listing.providers}
