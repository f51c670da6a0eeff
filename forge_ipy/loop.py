"""The package's one long-lived event loop, on a daemon thread, and its shared HTTP client.

Sync callers (magics, the CLI, widget callbacks) submit coroutines here. Running our own
loop avoids `asyncio.run` inside ipykernel, whose loop is always running, and nest_asyncio.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio and httpx load with the first request, not with the package
    import asyncio
    import concurrent.futures

    import httpx

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._thread or not self._thread.is_alive():
                import asyncio

                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="forge-ipy-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._client = loop, thread, None
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; returns a thread-safe future."""
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._ensure_started())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (from any thread but the loop's)."""
        if self._thread is threading.current_thread():
            coro.close()
            raise RuntimeError("BackgroundLoop.run called from its own thread; await instead")
        return self.submit(coro).result()

    def client(self) -> httpx.AsyncClient:
        """The shared client; call only from coroutines running on this loop."""
        if self._client is None:
            import httpx  # here, not at import: answering from the cache needs no HTTP stack

            from .providers.body import ACCEPT_ENCODING

            # Redirects are never followed: a key must not travel to another origin.
            # Time limits are per provider (asyncio), so httpx's own are generous.
            # Only encodings that providers/body.py decodes with bounded memory are asked for.
            self._client = httpx.AsyncClient(
                follow_redirects=False, timeout=httpx.Timeout(60.0), trust_env=True,
                headers={"user-agent": "forge-ipy", "accept-encoding": ACCEPT_ENCODING},
            )
        return self._client

    def stop(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._client is not None:
            import asyncio

            client, self._client = self._client, None
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)


_LOOP = BackgroundLoop()
atexit.register(_LOOP.stop)


def background_loop() -> BackgroundLoop:
    return _LOOP
