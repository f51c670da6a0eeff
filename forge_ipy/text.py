"""Text that came from outside (a provider, a damaged file) made safe to show.

Every string a provider sent reaches a terminal, a porcelain or completion line, or a message
only through `printable`: control characters (C0, DEL, C1, bidi overrides and isolates, lone
surrogates) are made visible as escapes, so an id can neither move the cursor, forge a line or
a field, nor reorder what the user reads. Standard library only: shell completion imports it.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ELLIPSIS = "…"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, limit: int | None = None) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\n`, `\\u202e`), cut to `limit`
    characters with an ellipsis when longer."""
    value = text if isinstance(text, str) else str(text)
    if _UNSAFE.search(value):
        value = _UNSAFE.sub(_escape, value)
    return clip(value, limit)


def clip(text: str, limit: int | None) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when it was longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


NAME_CHARS = 300  # no one types, or wants offered, a longer name


def plain(text: str, limit: int = NAME_CHARS) -> bool:
    """Whether `text` can be shown and offered as it is: no control character, at most
    `limit` characters. Completion offers only such names: an escaped or cut one could
    never be selected, and a newline in one would forge a line."""
    return len(text) <= limit and not _UNSAFE.search(text)
