"""Shared fixtures: every test runs in its own config and cache folders, with no real keys,
no real API roots and no real local Ollama in sight."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import httpx
import pytest

from forge_ipy import credentials
from forge_ipy.aggregator import FetchResult, fetch_all
from forge_ipy.providers import registry
from forge_ipy.providers.fetch import MAX_BODY_BYTES
from forge_ipy.testing import LoopbackProviders

T = TypeVar("T")



@pytest.fixture(scope="session")
def closed_root() -> Iterator[str]:
    """An address on which every connection is refused: a port we hold bound but never listen
    on, so nothing else can take it during the run."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, closed_root) -> Iterator[None]:
    """Fresh config and cache folders; no provider keys, roots or FORGE_* settings from the
    person running the tests; Ollama's default root on a closed port."""
    for name in list(os.environ):
        if name.startswith("FORGE_") or name in registry.environment_variables():
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORGE_IPY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FORGE_IPY_CACHE_DIR", str(tmp_path / "cache"))
    # No test reaches models.dev: those of the live catalog point it at the loopback server.
    monkeypatch.setenv("FORGE_MODEL_FACTS_URL", "off")
    monkeypatch.setattr(registry, "BUILTINS", tuple(
        dataclasses.replace(spec, default_root=closed_root) if spec.id == "ollama" else spec
        for spec in registry.BUILTINS
    ))
    credentials.forget_fingerprints()
    yield
    credentials.forget_fingerprints()


@pytest.fixture
def loopback() -> Iterator[LoopbackProviders]:
    """A started loopback server with no providers yet: tests `add` what they need."""
    server = LoopbackProviders().start()
    yield server
    server.stop()


@pytest.fixture
def serve(loopback, monkeypatch) -> Callable[[], LoopbackProviders]:
    """Call after `loopback.add(...)`: exports the server's keys and API roots."""

    def apply() -> LoopbackProviders:
        for name, value in loopback.env().items():
            monkeypatch.setenv(name, value)
        return loopback

    return apply


def with_client(body: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `await body(client)` in a fresh event loop with a fresh client like the package's:
    redirects never followed, no proxy taken from the environment."""

    async def run() -> T:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            return await body(client)

    return asyncio.run(run())


def fetch_logged_in(only: tuple[str, ...] | None = None, *, timeout: float = 10.0,
                    max_body_bytes: int = MAX_BODY_BYTES) -> list[FetchResult]:
    """`fetch_all` over the logged-in providers (limited to `only`), on a fresh client."""
    accesses = registry.logged_in(only)
    return with_client(lambda client: fetch_all(
        client, accesses, timeout=timeout, max_body_bytes=max_body_bytes))


@pytest.fixture(name="with_client")
def with_client_fixture() -> Callable[..., object]:
    """`with_client(async_fn)`: `await async_fn(client)` on a fresh client and event loop."""
    return with_client


@pytest.fixture
def fetch() -> Callable[..., list[FetchResult]]:
    """`fetch(only=None, *, timeout=10.0, max_body_bytes=...)`: the logged-in providers'
    results in table order, as `fetch_all` returns them."""
    return fetch_logged_in
