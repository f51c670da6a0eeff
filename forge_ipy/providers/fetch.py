"""Fetch one provider's whole model list: every page, no redirects, bounded memory and time.

This is the one place where httpx's errors become `ProviderError`s with an `error_kind`.
Credentials go only to the provider's own root: redirects are never followed, and each
next page is a path and query under the same root. Bodies are read by body.py (the size cap
counts decoded bytes); each page is parsed in a worker thread, never on the event loop; text
a server sent reaches a message only through `server_text` (key removed, controls escaped).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx

from ..domain import MAX_MODELS_PER_PROVIDER, Model
from ..errors import ProviderError
from ..redact import redact, shown
from ..text import printable
from .auth import SigningError, for_credential
from .body import parse_json, read_body
from .registry import ProviderAccess
from .wire import BadShape, Page, PageRequest

log = logging.getLogger("forge_ipy")
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGES = 500
_ERROR_BODY_BYTES = 64 * 1024
# Phrases with which providers answer a bad key with HTTP 400 (Gemini, xAI).
_BAD_KEY_PHRASES = ("api key not valid", "api_key_invalid", "invalid api key",
                    "incorrect api key", "invalid x-api-key", "invalid authentication")


def wire_module(wire: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.{wire}")


def signing(access: ProviderAccess) -> tuple[dict[str, str], httpx.Auth | None]:
    """The fixed headers of `access`'s wire and the `httpx.Auth` that signs its requests
    (None: nothing to sign with). Listing and chat both send requests with these."""
    wire = wire_module(access.spec.wire)
    try:
        return wire.HEADERS, for_credential(wire.AUTH, access.credential)
    except SigningError as exc:
        raise _error(access, "auth", str(exc)) from None


async def fetch_models(
    client: httpx.AsyncClient, access: ProviderAccess, *, max_body_bytes: int = MAX_BODY_BYTES
) -> list[Model]:
    """Every model `access` offers, following every page, each id once (the first wins);
    raises ProviderError. Waits on the network here; parses each page in a worker thread."""
    check_root(access)
    wire = wire_module(access.spec.wire)
    headers, auth = signing(access)
    request: PageRequest | None = wire.first_page()
    models: dict[str, Model] = {}
    seen: set[tuple] = set()
    while request is not None:
        marker = (request.path, tuple(sorted(request.params.items())))
        if marker in seen or len(seen) >= MAX_PAGES:
            raise _error(access, "bad_response", "pagination does not end")
        seen.add(marker)
        response, body = await _get_body(client, access, request, headers, max_body_bytes,
                                         auth)
        request = await asyncio.to_thread(_take_page, wire, access, request, response, body,
                                          models)
    return await _add_documents(client, access, wire, list(models.values()), headers, auth,
                                max_body_bytes)


async def _get_json(
    client: httpx.AsyncClient, access: ProviderAccess, request: PageRequest,
    headers: dict[str, str], auth: httpx.Auth | None, max_body_bytes: int,
) -> Any:
    """One document as JSON: read through body.py, parsed in a worker thread."""
    response, body = await _get_body(client, access, request, headers, max_body_bytes, auth)
    return await asyncio.to_thread(parse_json, body, provider_id=access.id,
                                   secrets=access.secrets,
                                   content_type=response.headers.get("content-type", ""))


async def _add_documents(
    client: httpx.AsyncClient, access: ProviderAccess, wire: ModuleType, models: list[Model],
    headers: dict[str, str], auth: httpx.Auth | None, max_body_bytes: int,
) -> list[Model]:
    """`models` with the facts of the further documents a wire module names (`documents`,
    `merge`), such as a gateway's description of its models. Optional: a document that
    fails or is malformed leaves the list as it is."""
    for request in wire.documents(access.root) if hasattr(wire, "documents") else ():
        try:
            payload = await _get_json(client, access, request, headers, auth, max_body_bytes)
            models = wire.merge(models, request, payload)
        except (ProviderError, BadShape, KeyError, TypeError, AttributeError, ValueError) as exc:
            log.debug("%s: %s not used: %s", access.id, request.path, exc)
    return models


async def fetch_document(
    client: httpx.AsyncClient, access: ProviderAccess, *, headers: dict[str, str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> bytes:
    """The body of one GET of `access.root`, with the listing's protections (no redirects,
    the size cap counted after decompression, errors as ProviderError); unparsed, so a big
    document is parsed off the loop.
    """
    check_root(access)
    _, body = await _get_body(client, access, PageRequest(""), headers or {}, max_body_bytes)
    return body


async def _get_body(
    client: httpx.AsyncClient, access: ProviderAccess, request: PageRequest,
    headers: dict[str, str], max_body_bytes: int, auth: httpx.Auth | None = None,
) -> tuple[httpx.Response, bytes]:
    url = access.root + request.path
    with request_errors(access):
        async with client.stream("GET", url, params=request.params, headers=headers,
                                 auth=auth or httpx.USE_CLIENT_DEFAULT) as response:
            body = await read_body(response, provider_id=access.id, limit=max_body_bytes,
                                   secrets=access.secrets)
    check_status(response, body, access)  # cheap: an error body is parsed only when short
    return response, body


@contextlib.contextmanager
def request_errors(access: ProviderAccess) -> Iterator[None]:
    """httpx's errors while asking `access` become ProviderErrors that never quote the key
    (the one translation, shared by listing and chat); so does a request that cannot be
    signed."""
    try:
        yield
    except SigningError as exc:
        raise _error(access, "auth", scrub(str(exc), access)) from None
    except httpx.TimeoutException:
        raise _error(access, "timeout", f"no answer from {origin(access)}") from None
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        # A key with a character no HTTP header can carry (a pasted zero-width space, a
        # newline). The library's message quotes the header: never show it.
        raise _error(access, "auth", "the key holds characters an HTTP header cannot carry; "
                     f"check it ({access.key_source or 'no key'})") from None
    except httpx.TransportError as exc:
        reason = type(exc).__name__ if not str(exc) else server_text(str(exc), access)
        raise _error(access, "unreachable", f"cannot reach {origin(access)}: {reason}") from None
    except (httpx.InvalidURL, ValueError, OverflowError):
        raise _invalid_root(access) from None


def _take_page(wire: ModuleType, access: ProviderAccess, request: PageRequest,
               response: httpx.Response, body: bytes,
               models: dict[str, Model]) -> PageRequest | None:
    """Add a page's models to `models` (an id already there keeps its first model) and
    return the next page. Runs in a worker thread: a big answer must not stall the event
    loop, where every other provider's clock is running."""
    page = _parse_page(wire, access, request, response, body)
    for model in page.models:
        models.setdefault(model.id, model)
    _check_count(access, len(models))
    return page.next


def _parse_page(wire: ModuleType, access: ProviderAccess, request: PageRequest,
                response: httpx.Response, body: bytes) -> Page:
    payload = parse_json(body, provider_id=access.id, secrets=access.secrets,
                         content_type=response.headers.get("content-type", ""))
    _check_count(access, _largest_list(payload))  # before a Model is built for each
    try:
        return wire.parse_page(access.id, payload, request)
    except (BadShape, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise _error(access, "bad_response",
                     f"unexpected response shape: {server_text(str(exc), access, 120)}") from None


def _largest_list(payload: Any) -> int:
    """The length of the list that holds the models: the payload, or one of its values."""
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict):
        return max((len(v) for v in payload.values() if isinstance(v, list)), default=0)
    return 0


def _check_count(access: ProviderAccess, count: int) -> None:
    if count > MAX_MODELS_PER_PROVIDER:
        raise _error(access, "too_large", f"{count} models is over the cap of "
                     f"{MAX_MODELS_PER_PROVIDER} per provider")


def check_status(response: httpx.Response, body: bytes, access: ProviderAccess) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = error_detail(body, access)
    if status in (401, 403) or (status == 400 and _says_bad_key(body)):
        what = "credentials" if access.spec.uses_aws else "key"
        hint = f"check the {what} ({access.key_source or 'none set'})"
        raise _error(access, "auth", f"HTTP {status}: {detail or 'key refused'}; {hint}")
    if 300 <= status < 400:
        target = server_text(response.headers.get("location", "elsewhere"), access)
        raise _error(access, "http", f"HTTP {status} redirect to {target} "
                     "not followed; set the API root to the final address")
    raise _error(access, "http", f"HTTP {status}" + (f": {detail}" if detail else ""))


def _says_bad_key(body: bytes) -> bool:
    text = body[:4096].decode("utf-8", "replace").lower()
    return any(phrase in text for phrase in _BAD_KEY_PHRASES)


def error_detail(body: bytes, access: ProviderAccess) -> str:
    """The provider's own error message, if it gave one in JSON, on one short line."""
    try:  # an error body worth quoting is short; a longer one is not parsed at all
        data = json.loads(body[:_ERROR_BODY_BYTES])
    except (ValueError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) and isinstance(data, dict):
        message = data.get("message") or data.get("detail")
    if not isinstance(message, str):
        return ""
    return server_text(" ".join(message.split()), access, 200).rstrip(". ")


def server_text(text: str, access: ProviderAccess, limit: int = 200) -> str:
    """Text a server sent, made fit to quote in a message: every form of the key (and of a
    password in the API root) removed, control characters made visible, cut to `limit`."""
    return shown(text, access.secrets, limit)


def scrub(text: str, access: ProviderAccess) -> str:
    """Remove every form of the key (and a password in the API root) from text a server sent
    back: raw, URL-encoded, base64, long fragments (redact.py)."""
    return redact(text, access.secrets)


def check_root(access: ProviderAccess) -> None:
    """Refuse a root no request can go to, before the network stack trips over it."""
    try:
        url = httpx.URL(access.root)
        valid = url.scheme in ("http", "https") and bool(url.host) and (
            url.port is None or 0 < url.port < 65536)
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise _invalid_root(access)


def _invalid_root(access: ProviderAccess) -> ProviderError:
    root = printable(access.shown_root, 200)
    return _error(access, "unreachable", f"the API root {root!r} is not a valid URL; "
                  "fix it (FORGE_<ID>_BASE_URL or config.toml)")


def origin(access: ProviderAccess) -> str:
    try:
        return httpx.URL(access.root).host or access.shown_root
    except (httpx.InvalidURL, ValueError):
        return access.shown_root


def _error(access: ProviderAccess, kind: str, message: str) -> ProviderError:
    return ProviderError(access.id, kind, message)
