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

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values (a test's "x") would garble every message
MIN_FRAGMENT_CHARS = 12  # a run of the text this long that is part of a secret is masked
# Runs of characters that keys and their encodings are made of.
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~%]{8,}")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of every secret replaced by `***`."""
    wanted = [s for s in secrets if s and len(s) >= MIN_SECRET_CHARS]
    if not wanted or not text:
        return text
    for secret in sorted(wanted, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return _TOKEN.sub(lambda m: MASK if _reveals(m.group(), wanted) else m.group(), text)


def _reveals(token: str, secrets: list[str]) -> bool:
    """Whether `token` is a long part of a secret, or base64 that decodes to hold one."""
    if len(token) >= MIN_FRAGMENT_CHARS and any(token in s for s in secrets):
        return True
    decoded = _base64(token)
    return decoded is not None and any(s.encode() in decoded for s in secrets)


def _base64(token: str) -> bytes | None:
    body = token.rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return None
