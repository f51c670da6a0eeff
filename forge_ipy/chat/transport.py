"""Send one chat request and read its answer: the listing's request rules, for chat.

Runs on the package's event loop (forge_ipy/loop.py). The key goes only to the provider's
own root (the shared client never follows redirects); httpx's errors and non-2xx answers
become ProviderErrors through providers/fetch.py's helpers, plus `rate_limited` for 429.
A stream is bounded: total bytes, the length of one line, and `chat_timeout_seconds` for
the whole answer. Compression is refused (asked for `identity`): a hostile provider's
small gzip could otherwise expand past every cap before it is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..errors import ProviderError, RateLimitError
from ..providers.fetch import (
    check_root,
    check_status,
    error_detail,
    origin,
    request_errors,
    scrub,
    wire_module,
)
from ..providers.registry import ProviderAccess
from ..text import printable
from .shape import BadEvent, ChatRequest, ChatShape, Piece, ProviderSaid

MAX_REPLY_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024  # an error body is read only for its message


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0
    max_bytes: int = MAX_REPLY_BYTES
    max_line: int = MAX_LINE_BYTES


def auth_headers(access: ProviderAccess) -> dict[str, str]:
    """The headers that carry the key: the one place chat asks the provider's list module."""
    return wire_module(access.spec.wire).headers(access.key)


async def exchange(client: httpx.AsyncClient, access: ProviderAccess, shape: ChatShape,
                   request: ChatRequest, on_piece: Callable[[Piece], None],
                   limits: Limits) -> bytes | None:
    """Send `request`; each streamed piece goes to `on_piece` as it arrives. Returns the body
    of a non-streamed answer (parsed by the caller, off the loop), None after a stream."""
    check_root(access)
    try:
        async with asyncio.timeout(limits.timeout):
            return await _exchange(client, access, shape, request, on_piece, limits)
    except TimeoutError:
        raise ProviderError(access.id, "timeout", f"no complete answer from {origin(access)} "
                            f"within {limits.timeout:g} s; raise chat_timeout_seconds "
                            "(FORGE_CHAT_TIMEOUT_SECONDS) for long answers") from None


_ACCEPT = {"json": "application/json", "sse": "text/event-stream",
           "ndjson": "application/x-ndjson"}


async def _exchange(client: httpx.AsyncClient, access: ProviderAccess, shape: ChatShape,
                    request: ChatRequest, on_piece: Callable[[Piece], None],
                    limits: Limits) -> bytes | None:
    headers = {**auth_headers(access), "accept-encoding": "identity",
               "accept": _ACCEPT[request.framing]}
    with request_errors(access):
        async with client.stream("POST", access.root + request.path, params=request.params,
                                 json=request.body, headers=headers) as response:
            _check_answer(response, access)
            if not 200 <= response.status_code < 300:
                body = await _read(response, access, MAX_ERROR_BYTES, cut=True)
                _raise_for_status(response, body, access)
            if request.framing == "json":
                return await _read(response, access, limits.max_bytes)
            if _content_type(response) == "application/json":  # answered whole, not streamed
                body = await _read(response, access, limits.max_bytes)
                on_piece(parse(access, shape.read_reply, body))
                return None
            await _stream(response, access, shape, request.framing, on_piece, limits)
    return None


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_answer(response: httpx.Response, access: ProviderAccess) -> None:
    """Refuse what no API sends: a compressed body we did not ask for, a web page."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _bad(access, f"the answer is compressed ({encoding}) though none was asked for")
    if 200 <= response.status_code < 300 and _content_type(response) == "text/html":
        raise _bad(access, "the answer is a web page, not the API's; check the API root")


async def _read(response: httpx.Response, access: ProviderAccess, cap: int,
                cut: bool = False) -> bytes:
    """The body up to `cap` bytes: over it, too_large (or, with `cut`, the first `cap`)."""
    parts, size = [], 0
    async with contextlib.aclosing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            size += len(chunk)
            parts.append(chunk)
            if size > cap:
                if cut:
                    break
                raise ProviderError(access.id, "too_large", f"answer is over the {cap}-byte cap")
    return b"".join(parts)[:cap]


def _raise_for_status(response: httpx.Response, body: bytes, access: ProviderAccess) -> None:
    if response.status_code == 429:
        wait = retry_after(response.headers)
        detail = error_detail(body, access)
        asks = f"; the provider asks to wait {wait:g} s" if wait is not None else ""
        raise RateLimitError(access.id, "HTTP 429: rate limited" + (f" ({detail})" if detail
                             else "") + asks + "; try again later", wait)
    check_status(response, body, access)


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """The wait a 429 asks for: `retry-after-ms` (OpenAI), `retry-after` in seconds or as an
    HTTP date; None when absent or unreadable."""
    millis = headers.get("retry-after-ms", "")
    try:
        if millis:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.replace(".", "", 1).isdigit():
            return float(value)
        moment = parsedate_to_datetime(value).timestamp()
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    return max(0.0, round(moment - (time.time() if now is None else now)))


async def _stream(response: httpx.Response, access: ProviderAccess, shape: ChatShape,
                  framing: str, on_piece: Callable[[Piece], None], limits: Limits) -> None:
    lines = _lines(response, access, limits)
    events = _sse_data(lines) if framing == "sse" else lines
    # Closed here, on the loop, even when the task is cancelled (an interrupt): left to the
    # garbage collector, they would be finalised by a task the stopping loop never runs.
    async with contextlib.aclosing(lines), contextlib.aclosing(events):
        async for event in events:
            if not event.strip():
                continue
            piece = parse(access, shape.read_event, event)
            on_piece(piece)
            if piece.done:
                return


async def _lines(response: httpx.Response, access: ProviderAccess,
                 limits: Limits) -> AsyncIterator[bytes]:
    """The body's lines, without their ends; too_large past the total or one line's cap."""
    pending, total = b"", 0
    async with contextlib.aclosing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            total += len(chunk)
            if total > limits.max_bytes:
                raise ProviderError(access.id, "too_large",
                                    f"answer is over the {limits.max_bytes}-byte cap")
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r")
            if len(pending) > limits.max_line:
                raise ProviderError(access.id, "too_large", "a line of the answer is over "
                                    f"the {limits.max_line}-byte cap")
    if pending:
        yield pending


async def _sse_data(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The data of each server-sent event; comments, `event:` and `id:` lines are dropped."""
    data: list[bytes] = []
    async for line in lines:
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
        elif line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
    if data:
        yield b"\n".join(data)


def parse(access: ProviderAccess, read: Callable[[Any], Piece], raw: bytes) -> Piece:
    try:
        text = raw.decode("utf-8")
        data = text.strip() if text.strip() == "[DONE]" else json.loads(text)
        return read(data)
    except ProviderSaid as said:
        raise ProviderError(access.id, "http", "the provider stopped with an error: "
                            + error_text(str(said), access)) from None
    except (BadEvent, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise _bad(access, f"unexpected answer: {type(exc).__name__}") from None


def error_text(message: str, access: ProviderAccess) -> str:
    """A provider's own words on one short line, never the key, never a control character."""
    return printable(scrub(" ".join(message.split()), access), 200)


def _bad(access: ProviderAccess, message: str) -> ProviderError:
    return ProviderError(access.id, "bad_response", message)
