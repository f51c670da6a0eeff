"""Fetch one provider's whole model list: every page, no redirects, a body size cap.

This is the one place where httpx's errors become `ProviderError`s with an `error_kind`.
Credentials go only to the provider's own root: redirects are never followed, and each
next page is a path and query under the same root.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx

from ..domain import Model
from ..errors import ProviderError
from ..text import printable
from .auth import SigningError, for_credential
from .registry import ProviderAccess
from .wire import BadShape, PageRequest

log = logging.getLogger("forge_ipy")
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGES = 500
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
    """Every model `access` offers, following every page; raises ProviderError."""
    check_root(access)
    wire = wire_module(access.spec.wire)
    headers, auth = signing(access)
    request: PageRequest | None = wire.first_page()
    models: list[Model] = []
    seen: set[tuple] = set()
    while request is not None:
        marker = (request.path, tuple(sorted(request.params.items())))
        if marker in seen or len(seen) >= MAX_PAGES:
            raise _error(access, "bad_response", "pagination does not end")
        seen.add(marker)
        payload = await _get_json(client, access, request, headers, auth, max_body_bytes)
        try:
            page = wire.parse_page(access.id, payload, request)
        except (BadShape, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise _error(access, "bad_response", f"unexpected response shape: {exc}") from None
        models.extend(page.models)
        request = page.next
    return await _add_documents(client, access, wire, models, headers, auth, max_body_bytes)


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
    the size cap, errors as ProviderError); unparsed, so a big document is parsed off the loop.
    """
    check_root(access)
    _, body = await _get_body(client, access, PageRequest(""), headers or {}, max_body_bytes)
    return body


async def _get_json(
    client: httpx.AsyncClient, access: ProviderAccess, request: PageRequest,
    headers: dict[str, str], auth: httpx.Auth | None, max_body_bytes: int,
) -> Any:
    response, body = await _get_body(client, access, request, headers, max_body_bytes, auth)
    try:
        return json.loads(body)
    except ValueError:
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        raise _error(access, "bad_response", f"answer is not JSON ({kind})") from None


async def _get_body(
    client: httpx.AsyncClient, access: ProviderAccess, request: PageRequest,
    headers: dict[str, str], max_body_bytes: int, auth: httpx.Auth | None = None,
) -> tuple[httpx.Response, bytes]:
    url = access.root + request.path
    with request_errors(access):
        async with client.stream("GET", url, params=request.params, headers=headers,
                                 auth=auth or httpx.USE_CLIENT_DEFAULT) as response:
            body = await _read_capped(response, access, max_body_bytes)
    check_status(response, body, access)
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
        reason = type(exc).__name__ if not str(exc) else scrub(str(exc), access)
        raise _error(access, "unreachable", f"cannot reach {origin(access)}: {reason}") from None
    except (httpx.InvalidURL, ValueError, OverflowError):
        raise _invalid_root(access) from None


async def _read_capped(
    response: httpx.Response, access: ProviderAccess, max_body_bytes: int
) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise _error(access, "too_large", f"answer of {declared} bytes is over the cap")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_body_bytes:
            raise _error(access, "too_large", f"answer is over the {max_body_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


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
        target = response.headers.get("location", "elsewhere")
        raise _error(access, "http", f"HTTP {status} redirect to {scrub(target, access)} "
                     "not followed; set the API root to the final address")
    raise _error(access, "http", f"HTTP {status}" + (f": {detail}" if detail else ""))


def _says_bad_key(body: bytes) -> bool:
    text = body[:4096].decode("utf-8", "replace").lower()
    return any(phrase in text for phrase in _BAD_KEY_PHRASES)


def error_detail(body: bytes, access: ProviderAccess) -> str:
    """The provider's own error message, if it gave one in JSON, on one short line."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) and isinstance(data, dict):
        message = data.get("message") or data.get("detail")
    if not isinstance(message, str):
        return ""
    return printable(scrub(" ".join(message.split()), access), 200).rstrip(". ")


def scrub(text: str, access: ProviderAccess) -> str:
    """Remove every secret of the credential from text a server sent back (some echo one)."""
    for secret in access.credential.secrets if access.credential else ():
        if secret:
            text = text.replace(secret, "***")
    return text


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
    return _error(access, "unreachable", f"the API root {access.root!r} is not a valid URL; "
                  "fix it (FORGE_<ID>_BASE_URL or config.toml)")


def origin(access: ProviderAccess) -> str:
    try:
        return httpx.URL(access.root).host or access.root
    except (httpx.InvalidURL, ValueError):
        return access.root


def _error(access: ProviderAccess, kind: str, message: str) -> ProviderError:
    return ProviderError(access.id, kind, message)
