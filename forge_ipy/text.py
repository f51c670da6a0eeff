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
# The same, less tab and newline: for reply text, which has lines.
_UNSAFE_IN_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
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


def printable(text: object, limit: int | None = None, *, lines: bool = False) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\n`, `\\u202e`), cut to `limit`
    characters with an ellipsis when longer. With `lines`, newlines and tabs stay (a reply's
    lines; a CR before a newline is dropped)."""
    value = text if isinstance(text, str) else str(text)
    unsafe = _UNSAFE
    if lines:
        value, unsafe = value.replace("\r\n", "\n"), _UNSAFE_IN_LINES
    if unsafe.search(value):
        value = unsafe.sub(_escape, value)
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


# -- Markdown a notebook renders: text from a provider must not become live HTML ----------
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)*?\1")
# A link to a script: `[x](javascript:...)`, `<vbscript:...>`, `[x]: data:...`.
_SCRIPT_LINK = re.compile(r"(?i)\b(javascript|vbscript|data)(\s*):(?=\S)")


def safe_markdown(text: str) -> str:
    """`text` as Markdown that renders as the provider wrote it, minus live HTML and script
    links: outside code, `<` becomes `&lt;` (shown as `<`) and `javascript:` links break.
    Code blocks and code spans are left alone: Markdown shows them literally."""
    out, fence = [], ""
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
            out.append(line)
        elif opening:
            fence = opening.group(1)
            out.append(line)
        else:
            out.append(_safe_line(line))
    return "\n".join(out)


def _safe_line(line: str) -> str:
    parts, last = [], 0
    for span in _CODE_SPAN.finditer(line):
        parts += [_defuse(line[last:span.start()]), span.group()]
        last = span.end()
    parts.append(_defuse(line[last:]))
    return "".join(parts)


def _defuse(text: str) -> str:
    return _SCRIPT_LINK.sub(r"\1-\2:", text.replace("<", "&lt;"))


def escape_markdown(text: str) -> str:
    """`text` shown literally in Markdown: every punctuation mark Markdown reads is escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~&])", r"\\\1", text)
