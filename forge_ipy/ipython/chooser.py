"""The terminal model chooser behind `%forge_select`: an inline prompt_toolkit application.

A search line on top, then the models grouped under non-selectable headers (Favourites,
Recent, then one per provider, with a failed provider's reason on its header), a window of
at most `MAX_HEIGHT` lines that scrolls with the highlight, and a hint line at the bottom.

The logic lives in `ChooserState` (no terminal needed, unit-testable); `choose_model` only
wires it to a search buffer, key bindings and a `FormattedTextControl` that renders the
visible window. Model ids are always plain text in formatted-text tuples, never markup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import HSplit, Layout, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from ..domain import Model, ModelListing, split_full_name
from ..formatting import format_model_line
from ..groups import model_groups

MAX_HEIGHT = 15
SEARCH_PROMPT = "Search: "
HINT = "↑↓ move · Enter select · Esc cancel"
MODEL_INDENT = "  "
SELECTED_MARK = "> "

STYLE = Style.from_dict({
    "chooser.search": "bold",
    "chooser.header": "bold",
    "chooser.header.failed": "fg:ansired",
    "chooser.current": "italic",
    "chooser.selected": "reverse",
    "chooser.hint": "fg:ansibrightblack",
    "chooser.empty": "italic",
})


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the list: a group header (not selectable) or a model."""

    kind: Literal["header", "model"]
    text: str
    model: Model | None = None
    failed: bool = False
    selected: bool = False
    current: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    model: Model
    text: str   # the displayed line, computed once
    key: str    # lowercase `provider/model` + "\n" + lowercase name, computed once


@dataclass(frozen=True, slots=True)
class _Group:
    header: str
    failed: bool
    entries: tuple[_Entry, ...]
    show_when_empty: bool  # a provider that failed outright keeps its header (unfiltered)


class ChooserState:
    """Grouped, filtered, scrolled list with one highlighted model; no terminal involved."""

    def __init__(self, listing: ModelListing, current: str | None = None, *,
                 favourites: Sequence[str] = (), recents: Sequence[str] = (),
                 height: int = MAX_HEIGHT, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.total = len(listing.models)
        self.current = _resolve(listing, current)  # a full name present in the listing
        self._groups = _build_groups(listing, favourites, recents, now)
        all_rows = sum(1 + len(g.entries) for g in self._groups)
        self.height = max(1, min(height, all_rows))
        self.text = ""
        self.lines: list[Line] = []          # every line of the filtered list
        self.selectable: list[int] = []      # indexes into `lines` of model lines
        self.match_count = 0                 # distinct matching models
        self.pos = -1                        # index into `selectable`; -1 when nothing
        self.top = 0                         # first visible index into `lines`
        self._rebuild("")
        self.pos = self._index_of(self.current) if self.current else self._first()
        self._scroll()

    # -- queries ------------------------------------------------------------------------

    @property
    def selected(self) -> Model | None:
        return self.lines[self.selectable[self.pos]].model if self.pos >= 0 else None

    @property
    def selected_name(self) -> str | None:
        model = self.selected
        return model.full_name if model else None

    def visible_lines(self) -> list[Line]:
        """The window of at most `height` lines, the highlighted one marked `selected`."""
        chosen = self.selectable[self.pos] if self.pos >= 0 else -1
        out = []
        for i in range(self.top, min(len(self.lines), self.top + self.height)):
            line = self.lines[i]
            out.append(Line(line.kind, line.text, line.model, line.failed, i == chosen,
                            line.current))
        return out

    def hint(self) -> str:
        if self.text:
            return f"{HINT} · {self.match_count} of {self.total} models"
        return f"{HINT} · {self.total} models"

    # -- actions ------------------------------------------------------------------------

    def filter(self, text: str) -> None:
        """Keep models whose `provider/model` or name contains `text` (any case); the
        highlight goes to the first match (or back to the current model when cleared)."""
        if text == self.text:
            return
        self._rebuild(text)
        self.pos = self._index_of(self.current) if not text and self.current else self._first()
        self.top = 0
        self._scroll()

    def move(self, delta: int) -> None:
        """Move the highlight `delta` model lines (headers are skipped), clamped at the ends."""
        if not self.selectable:
            return
        self.pos = max(0, min(len(self.selectable) - 1, self.pos + delta))
        self._scroll()

    def page(self, direction: int) -> None:
        self.move(direction * max(1, self.height - 2))

    def first(self) -> None:
        self.move(-len(self.selectable))

    def last(self) -> None:
        self.move(len(self.selectable))

    # -- internals ----------------------------------------------------------------------

    def _rebuild(self, text: str) -> None:
        self.text = text
        needle = text.lower()
        lines: list[Line] = []
        selectable: list[int] = []
        matched: set[str] = set()
        current = self.current
        for group in self._groups:
            entries = [e for e in group.entries if needle in e.key] if needle else group.entries
            if not entries and (needle or not group.show_when_empty):
                continue
            lines.append(Line("header", group.header, failed=group.failed))
            for entry in entries:
                selectable.append(len(lines))
                full = entry.model.full_name
                matched.add(full)
                lines.append(Line("model", entry.text, entry.model,
                                  current=current is not None and full == current))
        self.lines, self.selectable, self.match_count = lines, selectable, len(matched)

    def _first(self) -> int:
        return 0 if self.selectable else -1

    def _index_of(self, full_name: str) -> int:
        """Position of the first model line for `full_name`, else the first model line."""
        for pos, index in enumerate(self.selectable):
            model = self.lines[index].model
            if model is not None and model.full_name == full_name:
                return pos
        return self._first()

    def _scroll(self) -> None:
        """Move the window so the highlighted line is visible, with its group header when
        the highlight is a group's first model."""
        if self.pos < 0:
            self.top = max(0, min(self.top, len(self.lines) - self.height))
            return
        index = self.selectable[self.pos]
        want_top = index - 1 if index > 0 and self.lines[index - 1].kind == "header" else index
        if self.pos == 0:
            want_top = 0
        if want_top < self.top:
            self.top = want_top
        elif index >= self.top + self.height:
            self.top = index - self.height + 1
        self.top = max(0, min(self.top, max(0, len(self.lines) - self.height)))


def _resolve(listing: ModelListing, name: str | None) -> str | None:
    """The full name of the model `name` denotes: `provider/model`, or a bare model id
    (which may itself contain `/`, as OpenRouter ids do). None when it is not listed."""
    if not name:
        return None
    if any(m.full_name == name for m in listing.models):
        return name
    provider, model_id = split_full_name(name)
    known = {m.provider_id for m in listing.models}
    # A known provider that lacks the model: not some other provider's model of that id.
    for wanted in (name,) if provider in known else (name, model_id):
        for model in listing.models:
            if model.id == wanted:
                return model.full_name
    return None


def _build_groups(listing: ModelListing, favourites: Sequence[str], recents: Sequence[str],
                  now: float) -> list[_Group]:
    """groups.model_groups decides the groups, order and labels (the picker uses it too);
    here each model becomes a line, once."""
    out = []
    for group in model_groups(listing, favourites, recents, now):
        entries = tuple(
            _Entry(model, f"{model.provider_id}/{format_model_line(model)}"
                   if group.shortcut else format_model_line(model),
                   f"{model.full_name.lower()}\n{model.name.lower()}")
            for model in group.models)
        out.append(_Group(group.header, group.failed, entries,
                          show_when_empty=group.failed and not entries))
    return out


def _render_list(state: ChooserState) -> StyleAndTextTuples:
    fragments: StyleAndTextTuples = []
    lines = state.visible_lines()
    if not lines:
        fragments.append(("class:chooser.empty", f"{MODEL_INDENT}no models match"))
    for i, line in enumerate(lines):
        if i:
            fragments.append(("", "\n"))
        if line.kind == "header":
            style = "class:chooser.header.failed" if line.failed else "class:chooser.header"
            fragments.append((style, line.text))
            continue
        style = "class:chooser.selected" if line.selected else ""
        if line.current:
            style = f"{style} class:chooser.current".strip()
        prefix = SELECTED_MARK if line.selected else MODEL_INDENT
        fragments.append((style, f"{prefix}{line.text}"))
        if line.current:
            fragments.append(("class:chooser.hint", "  (current)"))
    return fragments


def choose_model(listing: ModelListing, current: str | None = None, *,
                 favourites: Sequence[str] = (), recents: Sequence[str] = (),
                 input: Input | None = None, output: Output | None = None) -> str | None:
    """Let the user pick a model in the terminal; its `provider/model`, or None if cancelled.

    Type to filter, Up/Down (Ctrl-P/Ctrl-N) to move, PageUp/PageDown to jump,
    Enter to choose, Esc or Ctrl-C to cancel.
    """
    state = ChooserState(listing, current, favourites=favourites, recents=recents)

    search = Buffer(multiline=False, on_text_changed=lambda buf: state.filter(buf.text))

    kb = KeyBindings()
    has_selection = Condition(lambda: state.pos >= 0)

    @kb.add("up")
    @kb.add("c-p")
    def _up(event: KeyPressEvent) -> None:
        state.move(-1)

    @kb.add("down")
    @kb.add("c-n")
    def _down(event: KeyPressEvent) -> None:
        state.move(1)

    @kb.add("pageup")
    def _page_up(event: KeyPressEvent) -> None:
        state.page(-1)

    @kb.add("pagedown")
    def _page_down(event: KeyPressEvent) -> None:
        state.page(1)

    @kb.add("enter", filter=has_selection)
    def _accept(event: KeyPressEvent) -> None:
        event.app.exit(result=state.selected_name)

    @kb.add("enter", filter=~has_selection)
    def _nothing(event: KeyPressEvent) -> None:
        pass  # no match: stay open, the user can edit the search or cancel

    @kb.add("escape", eager=True)
    @kb.add("c-c")
    @kb.add("c-g")
    def _cancel(event: KeyPressEvent) -> None:
        event.app.exit(result=None)

    layout = Layout(HSplit([
        Window(BufferControl(search, include_default_input_processors=True), height=1,
               get_line_prefix=lambda line, wrap: [("class:chooser.search", SEARCH_PROMPT)]),
        Window(FormattedTextControl(lambda: _render_list(state), focusable=False),
               height=state.height, wrap_lines=False, dont_extend_height=True),
        Window(FormattedTextControl(lambda: [("class:chooser.hint", state.hint())]), height=1),
    ]), focused_element=search)

    app: Application[str | None] = Application(
        layout=layout, key_bindings=kb, style=STYLE, full_screen=False,
        erase_when_done=True, mouse_support=False, input=input, output=output)
    app.ttimeoutlen = 0.1  # a lone Esc cancels quickly; sequences arrive well within this
    app.timeoutlen = 0.5

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return app.run()
    # Called from inside a running event loop (e.g. an async cell): run in a thread.
    return app.run(in_thread=True)
