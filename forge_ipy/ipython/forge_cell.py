"""`%%forge`: send the cell to the chosen model and stream the reply into the cell's output.

In a notebook the reply is one Markdown display updated in place (throttled), in a terminal
plain text printed as it comes; then the footer (model, tokens, cost, seconds). `{name}` in
the cell takes the value of `name` from the user's namespace and `{{` keeps a brace.
Interrupting the kernel stops the stream and keeps what arrived.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

from ..chat.reply import Reply
from ..chat.service import ReplyStream, prepare
from ..text import escape_markdown, printable, safe_markdown

UPDATE_SECONDS = 0.08  # at most ~12 redraws a second: each one re-renders the whole reply
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Per shell (one kernel), per model: the conversation `-c` continues.
_HISTORY: weakref.WeakKeyDictionary[Any, dict[str, list[dict[str, str]]]] = \
    weakref.WeakKeyDictionary()


def interpolate(cell: str, namespace: Mapping[str, Any]) -> str:
    """`{name}` becomes `str(namespace[name])`; `{{` and `}}` become single braces; any other
    brace is left as written (code and JSON in a prompt stay intact)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group()[0]
        if name not in namespace:
            raise UsageError(f"the cell uses {{{name}}} but no variable {name!r} is defined; "
                             f"define it, or write {{{{{name}}}}} for the text itself")
        return str(namespace[name])

    return _PLACEHOLDER.sub(value, cell)


class ChatOutput:
    """The reply as shown: Markdown (or a code block, or plain text) and the footer."""

    def __init__(self, text: str, fmt: str, footer: str = "") -> None:
        self.text, self.fmt, self.footer = text, fmt, footer

    def _repr_markdown_(self) -> str | None:
        if self.fmt == "text":
            return None
        body = _code_block(self.text) if self.fmt == "code" else safe_markdown(self.text)
        return body + (f"\n\n---\n{escape_markdown(self.footer)}" if self.footer else "")

    def __repr__(self) -> str:
        text = printable(self.text, lines=True)
        return text + (f"\n\n{self.footer}" if self.footer else "")


def _code_block(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def run(magics: Any, args: Any, cell: str) -> Reply:
    """Send the cell (interpolated) as `args` say; show the reply as it streams; return it."""
    from .magics import _in_notebook, _user_errors

    shell = magics.shell
    prompt = interpolate(cell, shell.user_ns if shell is not None else {}).strip()
    history = _HISTORY.setdefault(shell, {}) if shell is not None else {}
    params = {k: v for k, v in (("max_tokens", args.max_tokens),
                                ("temperature", args.temperature)) if v is not None}
    with _user_errors():
        turn = prepare(prompt, model=args.name, system=args.system, stream=True,
                       settings=magics.settings(), **params)
        key = turn.target.full_name
        if args.continue_:
            turn.messages[:0] = history.get(key, [])
        show = _Notebook(args.format) if _in_notebook(shell) else _Terminal()
        replies = ReplyStream(turn)
        try:
            for delta in replies:
                show.add(delta)
        except KeyboardInterrupt:
            replies.close()  # stopped by the user: keep what arrived
        finally:
            reply = replies.reply
            show.finish(reply)
    history[key] = [*turn.messages, {"role": "assistant", "content": reply.text}]
    return reply


class _Notebook:
    """One display, updated in place at most every UPDATE_SECONDS."""

    def __init__(self, fmt: str) -> None:
        from IPython.display import display

        self.fmt, self.parts, self.shown = fmt, [], 0.0
        self.handle = display(ChatOutput("", fmt), display_id=True)

    def add(self, delta: str) -> None:
        self.parts.append(delta)
        now = time.monotonic()
        if now - self.shown >= UPDATE_SECONDS:
            self.shown = now
            self.handle.update(ChatOutput("".join(self.parts), self.fmt))

    def finish(self, reply: Reply) -> None:
        self.handle.update(ChatOutput(reply.text, self.fmt, reply.footer()))


class _Terminal:
    """Text printed as it comes, control characters made visible."""

    def add(self, delta: str) -> None:
        print(printable(delta, lines=True), end="", flush=True)

    def finish(self, reply: Reply) -> None:
        print(f"\n\n{reply.footer()}", flush=True)
