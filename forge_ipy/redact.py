"""Removing credentials from text that is about to be shown: the one place that does it.

A server may echo what it was sent: a key in an error body, a redirect's Location, a header
quoted back, as is, URL-encoded, in base64 (alone or as `user:key` of Basic auth), or a long
part of it (the key after its `sk-` prefix). `redact` removes every such form before the text
is quoted in a message. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from .text import printable

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values (a test's "x") would garble every message
MIN_FRAGMENT_CHARS = 12  # a run of the text this long that is part of a secret is masked
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")  # standard or URL-safe base64
_WORD = re.compile(rf"[A-Za-z0-9_-]{{{MIN_FRAGMENT_CHARS},}}")  # what keys are made of


def shown(text: str, secrets: Iterable[str | None], limit: int | None = 200) -> str:
    """Text from outside made fit to quote in a message: every form of every secret removed,
    control characters made visible, cut to `limit` characters."""
    return printable(redact(text, secrets), limit)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of every secret replaced by `***`."""
    wanted = [s for s in secrets if s and len(s) >= MIN_SECRET_CHARS]
    if not wanted or not text:
        return text
    for secret in sorted(wanted, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = re.sub(re.escape(form), MASK, text, flags=re.IGNORECASE)  # any case too
    text = _BASE64.sub(lambda m: MASK if _decodes_to(m.group(), wanted) else m.group(), text)
    parts = {s[i:i + MIN_FRAGMENT_CHARS].lower() for s in wanted
             for i in range(len(s) - MIN_FRAGMENT_CHARS + 1)}
    return _WORD.sub(lambda m: MASK if any(p in m.group().lower() for p in parts)
                     else m.group(), text)


def _decodes_to(token: str, secrets: list[str]) -> bool:
    """Whether `token` is base64 that decodes to something holding a secret."""
    body = token.rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            decoded = decode(padded)
        except (binascii.Error, ValueError):
            continue
        if any(s.encode() in decoded for s in secrets):
            return True
    return False
