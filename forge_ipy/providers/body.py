"""Reading a response body with memory bounded, whatever the server sends.

Every request forge-ipy makes reads its body through `iter_body` (or `read_body`, which joins
it): model lists, documents such as the catalog of model facts, streamed chat replies. The
size cap counts bytes AFTER decompression, for every content-encoding and every stack of
them. httpx's own decoders turn one raw chunk into its whole decoded size at once, so a few
KB of `gzip, gzip` could become gigabytes before any count; here raw bytes go through zlib
decoders that each hand out at most `PIECE_BYTES` at a time, and every layer is counted.

Only what can be decoded that way is asked for (`ACCEPT_ENCODING`, sent by the shared
client); an encoding nobody asked for is a `bad_response`.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx

from ..errors import ProviderError
from ..redact import shown

# What the shared client advertises: the encodings `iter_body` decodes with bounded output.
ACCEPT_ENCODING = "gzip, deflate"
PIECE_BYTES = 64 * 1024
MAX_ENCODING_LAYERS = 4  # `gzip, gzip` is legal; a stack deeper than this is an attack
# Objects and lists a JSON answer may hold, counted before parsing: parsing is where a small
# body becomes large (27 MB of tiny models, 1.4 million dicts, takes gigabytes as Models).
MAX_JSON_CONTAINERS = 200_000
MAX_INT_DIGITS = 40  # a longer integer is parsed as null: no count is that long
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
          "deflate": zlib.MAX_WBITS}


class _TooLarge(Exception):
    pass


class _Inflater:
    """One content-encoding layer, decoded a bounded piece at a time."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._raw_fallback = encoding == "deflate"  # servers send raw deflate too, as httpx knows
        self._obj = zlib.decompressobj(_WBITS[encoding])
        self._limit = limit
        self._total = 0

    def decode(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        while not obj.eof:  # bytes after the end of the stream are ignored, as httpx does
            try:
                out = obj.decompress(data, PIECE_BYTES)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._raw_fallback = False
                obj = self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = obj.unconsumed_tail
            self._total += len(out)
            if self._total > self._limit:  # every layer counts: a CPU bomb in a middle layer
                raise _TooLarge
            if out:
                yield out
            if not data and len(out) < PIECE_BYTES:
                return  # input used up and nothing held back


def _decoders(response: httpx.Response, provider_id: str, limit: int,
              secrets: Iterable[str | None]) -> list[_Inflater]:
    """Decoders in the order to apply them: the last encoding named was applied last."""
    header = response.headers.get("content-encoding", "")
    given = [n.strip() for n in header.split(",")]
    names = [n.lower() for n in given if n and n.lower() != "identity"]
    unknown = [n for n in given if n and n.lower() not in _WBITS and n.lower() != "identity"]
    if unknown or len(names) > MAX_ENCODING_LAYERS:
        what = shown(", ".join(unknown) if unknown else header, secrets, 60)
        raise ProviderError(provider_id, "bad_response",
                            f"answer uses content-encoding {what!r}, which was not asked for")
    return [_Inflater(name, limit) for name in reversed(names)]


def _through(decoders: list[_Inflater], data: bytes) -> Iterator[bytes]:
    if not decoders:
        yield data
        return
    for piece in decoders[0].decode(data):
        yield from _through(decoders[1:], piece)


async def iter_body(response: httpx.Response, *, provider_id: str, limit: int,
                    secrets: Iterable[str | None] = ()) -> AsyncIterator[bytes]:
    """The decoded body of a streamed `response`, piece by piece, at most `limit` bytes in all.

    Raises ProviderError `too_large` (over `limit` after decompression, or a declared
    Content-Length over it) or `bad_response` (an encoding not asked for, or damaged).
    Call on an `httpx.AsyncClient.stream(...)` response whose body has not been read;
    `secrets` (the key) are removed from any header quoted in an error.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise ProviderError(provider_id, "too_large",
                            f"answer of {shown(declared, (), 24)} bytes is over the cap")
    decoders = _decoders(response, provider_id, limit, secrets)
    size = 0
    try:
        if response.is_stream_consumed:  # made in memory (httpx.MockTransport): decoded already
            if len(response.content) > limit:
                raise _TooLarge
            yield response.content
            return
        async for raw in response.aiter_raw():
            size += len(raw)  # each decoding layer counts its own output
            if size > limit:
                raise _TooLarge
            for piece in _through(decoders, raw):
                yield piece
                await asyncio.sleep(0)  # decoding many pieces must not hold the loop
    except _TooLarge:
        raise ProviderError(provider_id, "too_large",
                            f"answer is over the {limit}-byte cap (after decompression)") from None
    except zlib.error:
        raise ProviderError(provider_id, "bad_response",
                            "answer's compression is damaged") from None


async def read_body(response: httpx.Response, *, provider_id: str, limit: int,
                    secrets: Iterable[str | None] = ()) -> bytes:
    """The whole decoded body of a streamed `response`; see `iter_body` for the limits."""
    return b"".join([piece async for piece in iter_body(
        response, provider_id=provider_id, limit=limit, secrets=secrets)])


def parse_json(body: bytes, *, provider_id: str, content_type: str = "",
               secrets: Iterable[str | None] = ()) -> Any:
    """`body` as JSON, refused before parsing when it holds too many objects; an integer of
    thousands of digits becomes None (smaller odd numbers are left to `Model`'s bounds).
    CPU-bound: call it off the package's event loop (asyncio.to_thread).

    Raises ProviderError `too_large` or `bad_response` (not JSON, nested too deeply).
    """
    containers = body.count(b"{") + body.count(b"[")
    if containers > MAX_JSON_CONTAINERS:
        raise ProviderError(provider_id, "too_large", f"answer holds {containers} JSON objects "
                            f"and lists, over the cap of {MAX_JSON_CONTAINERS}")
    try:
        try:
            return json.loads(body)
        except ValueError as exc:  # an integer of thousands of digits: read it as null
            if "digits" not in str(exc):
                raise
        return json.loads(body, parse_int=_bounded_int)  # a hook per number: only then
    except RecursionError:
        raise ProviderError(provider_id, "bad_response", "answer is nested too deeply") from None
    except ValueError:
        kind = shown(content_type.split(";")[0] or "unknown type", secrets, 60)
        raise ProviderError(provider_id, "bad_response", f"answer is not JSON ({kind})") from None


def _bounded_int(text: str) -> int | None:
    return int(text) if len(text) <= MAX_INT_DIGITS else None
