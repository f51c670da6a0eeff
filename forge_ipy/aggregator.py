"""Fetch every logged-in provider at once, each within its own time limit.

One provider failing never hides the others: it becomes a result with an error. Results
are yielded as each provider finishes, so frontends can show partial lists. Nothing here
knows about caching.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import httpx

from .domain import Model
from .errors import ProviderError
from .providers.fetch import MAX_BODY_BYTES, fetch_models
from .providers.registry import ProviderAccess


@dataclass(frozen=True)
class FetchResult:
    """One provider's outcome: its models, or the error that stopped it."""

    access: ProviderAccess
    models: tuple[Model, ...] | None
    error: ProviderError | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.error is None


async def fetch_one(
    client: httpx.AsyncClient, access: ProviderAccess, *, timeout: float,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FetchResult | None:
    """One provider within `timeout` seconds, all pages counted.

    Returns None for a keyless local provider found at its default root that is not running:
    Ollama not running is not an error.
    """
    started = time.monotonic()
    try:
        models = await asyncio.wait_for(
            fetch_models(client, access, max_body_bytes=max_body_bytes), timeout
        )
    except TimeoutError:
        error = ProviderError(access.id, "timeout", f"no complete answer within {timeout:g} s")
    except ProviderError as exc:
        if exc.kind == "unreachable" and access.spec.keyless and not access.root_explicit:
            return None
        error = exc
    except Exception as exc:  # one provider's surprise must not take the others down
        # Only the type: a library's message may quote a request header, and so the key.
        error = ProviderError(access.id, "bad_response", f"unexpected {type(exc).__name__}")
    else:
        return FetchResult(access, tuple(models), None, time.monotonic() - started)
    return FetchResult(access, None, error, time.monotonic() - started)


async def fetch_each(
    client: httpx.AsyncClient, accesses: Sequence[ProviderAccess], *, timeout: float,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> AsyncIterator[FetchResult]:
    """Fetch all `accesses` concurrently and yield each result as soon as it is in."""
    tasks = [
        asyncio.ensure_future(fetch_one(client, a, timeout=timeout, max_body_bytes=max_body_bytes))
        for a in accesses
    ]
    try:
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            if result is not None:
                yield result
    finally:
        for task in tasks:
            task.cancel()


async def fetch_all(
    client: httpx.AsyncClient, accesses: Sequence[ProviderAccess], *, timeout: float,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> list[FetchResult]:
    """Every provider's result, in the order the providers were given."""
    order = {access.id: i for i, access in enumerate(accesses)}
    results = [r async for r in fetch_each(
        client, accesses, timeout=timeout, max_body_bytes=max_body_bytes)]
    return sorted(results, key=lambda r: order[r.access.id])


class Aggregator:
    """`fetch_each` with one fetch per provider in flight: concurrent callers share it.

    Lives on the package's event loop; many cells or widgets asking at once during a slow
    fetch cause one request per provider, not one per caller.
    """

    def __init__(self, client: Callable[[], httpx.AsyncClient],
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._client = client
        self._max_body_bytes = max_body_bytes
        self._inflight: dict[tuple[str, str], asyncio.Task[FetchResult | None]] = {}

    def _forget(self, key: tuple[str, str], _task: asyncio.Task) -> None:
        self._inflight.pop(key, None)

    def in_flight(self) -> list[str]:
        return [pid for pid, _ in self._inflight]

    def shared_fetch(self, access: ProviderAccess, timeout: float) -> asyncio.Task:
        key = (access.id, access.fingerprint)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch_one(
                self._client(), access, timeout=timeout, max_body_bytes=self._max_body_bytes))
            self._inflight[key] = task
            task.add_done_callback(partial(self._forget, key))
        return task

    async def fetch_each(
        self, accesses: Sequence[ProviderAccess], *, timeout: float
    ) -> AsyncIterator[tuple[ProviderAccess, FetchResult | None]]:
        """Each provider with its result as soon as it is in; None for a local server found
        not running, so callers learn that at once too."""
        async def one(access: ProviderAccess) -> tuple[ProviderAccess, FetchResult | None]:
            return access, await asyncio.shield(self.shared_fetch(access, timeout))

        for next_done in asyncio.as_completed([one(a) for a in accesses]):
            yield await next_done
