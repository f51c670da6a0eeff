"""Fetching every provider at once: each failure becomes one provider's error of the right
kind, one provider never hides the others, requests overlap, and the time limit counts pages."""

from __future__ import annotations

import httpx
import pytest

from forge_ipy.aggregator import fetch_each
from forge_ipy.domain import ERROR_KINDS
from forge_ipy.errors import ProviderError
from forge_ipy.loop import background_loop
from forge_ipy.providers.fetch import fetch_models
from forge_ipy.providers.registry import logged_in
from forge_ipy.testing import FakeModel, sample_models

KEY_LEAK_MARK = "LEAK"  # every key a test sends contains it; no error message may


def fail_with(loopback, serve, fetch, provider_id: str, *, timeout: float = 10.0,
              max_body_bytes: int | None = None, **options) -> ProviderError:
    """Serve `provider_id` with `options`, fetch it and return its (checked) error."""
    loopback.add(provider_id, key=f"{KEY_LEAK_MARK}-{provider_id}-key", **options)
    serve()
    limits = {"max_body_bytes": max_body_bytes} if max_body_bytes else {}
    [result] = fetch((provider_id,), timeout=timeout, **limits)
    assert not result.ok
    assert result.models is None
    return checked(result.error, provider_id)


def checked(error: ProviderError, provider_id: str) -> ProviderError:
    """The properties every provider error has: its provider, a known kind, one clean line."""
    assert isinstance(error, ProviderError)
    assert error.provider_id == provider_id
    assert error.kind in ERROR_KINDS
    message = str(error)
    assert message and "\n" not in message
    assert KEY_LEAK_MARK not in message
    return error


@pytest.mark.parametrize("provider_id, options, kind", [
    ("openai", {"failure": "status:500"}, "http"),
    ("openai", {"failure": "status:404"}, "http"),
    ("anthropic", {"failure": "status:529"}, "http"),
    ("openai", {"failure": "status:403"}, "auth"),
    ("openai", {"failure": "invalid_json"}, "bad_response"),
    ("openai", {"failure": "html"}, "bad_response"),
    ("openai", {"failure": "bad_shape"}, "bad_response"),
    ("gemini", {"failure": "bad_shape"}, "bad_response"),
    ("together", {"failure": "bad_shape"}, "bad_response"),
    ("ollama", {"failure": "bad_shape"}, "bad_response"),
    ("openai", {"failure": "reset"}, "unreachable"),
    ("openai", {"failure": "huge", "huge_bytes": 200_000}, "too_large"),
    ("openai", {"models": sample_models("openai", count=200)}, "too_large"),  # Content-Length
])
def test_failure_kinds(loopback, serve, fetch, provider_id, options, kind):
    error = fail_with(loopback, serve, fetch, provider_id, max_body_bytes=10_000, **options)

    assert error.kind == kind


def test_hang_is_a_timeout(loopback, serve, fetch):
    error = fail_with(loopback, serve, fetch, "openai", failure="hang", timeout=0.3)

    assert error.kind == "timeout"


def test_httpx_timeout_is_a_timeout_too(loopback, serve, with_client):
    loopback.add("openai", failure="hang")
    serve()
    [access] = logged_in(("openai",))

    async def slow_client(_client):
        async with httpx.AsyncClient(timeout=0.2, trust_env=False) as client:
            return await fetch_models(client, access)

    with pytest.raises(ProviderError) as raised:
        with_client(slow_client)

    assert checked(raised.value, "openai").kind == "timeout"


def test_refused_connection_is_unreachable(monkeypatch, fetch, closed_root):
    monkeypatch.setenv("OPENAI_API_KEY", f"{KEY_LEAK_MARK}-key")
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", f"{closed_root}/v1")

    [result] = fetch(("openai",))

    assert checked(result.error, "openai").kind == "unreachable"


@pytest.mark.parametrize("provider_id, status", [
    ("openai", 401), ("anthropic", 401), ("groq", 401), ("openrouter", 401),
    ("gemini", 400),  # Gemini answers a bad key with 400 API_KEY_INVALID
    ("xai", 400),  # so does xAI
])
def test_refused_key_is_auth(loopback, serve, fetch, monkeypatch, provider_id, status):
    loopback.add(provider_id)
    serve()
    variable = {"gemini": "GEMINI_API_KEY"}.get(provider_id, f"{provider_id.upper()}_API_KEY")
    monkeypatch.setenv(variable, f"{KEY_LEAK_MARK}-wrong-key")

    [result] = fetch((provider_id,))

    error = checked(result.error, provider_id)
    assert error.kind == "auth"
    assert f"HTTP {status}" in str(error)
    assert variable in str(error)  # says which key to check


@pytest.mark.parametrize("status, body, headers, kind", [
    (401, '{"error": {"message": "Incorrect API key provided: %s"}}', {}, "auth"),
    (500, '{"error": "upstream rejected %s"}', {}, "http"),
    (307, "", {"location": "https://elsewhere.test/?key=%s"}, "http"),
])
def test_key_echoed_by_a_server_is_scrubbed(monkeypatch, with_client, status, body, headers,
                                            kind):
    key = f"sk-{KEY_LEAK_MARK}-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    [access] = logged_in(("openai",))

    def echo(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {key}"
        return httpx.Response(status, content=body.replace("%s", key).encode(),
                              headers={k: v.replace("%s", key) for k, v in headers.items()})

    async def attempt(_client):
        async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as client:
            await fetch_models(client, access)

    with pytest.raises(ProviderError) as raised:
        with_client(attempt)

    assert checked(raised.value, "openai").kind == kind
    assert "***" in str(raised.value)


def test_pagination_that_never_ends_is_a_bad_response(monkeypatch, with_client):
    monkeypatch.setenv("OPENAI_API_KEY", "key")
    [access] = logged_in(("openai",))
    asked = []

    def same_page_forever(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params.get("after"))
        return httpx.Response(200, json={"data": [{"id": "a"}], "has_more": True})

    async def attempt(_client):
        async with httpx.AsyncClient(transport=httpx.MockTransport(same_page_forever)) as client:
            await fetch_models(client, access)

    with pytest.raises(ProviderError) as raised:
        with_client(attempt)

    assert checked(raised.value, "openai").kind == "bad_response"
    assert asked == [None, "a"]


def test_other_400_is_not_auth(loopback, serve, fetch):
    error = fail_with(loopback, serve, fetch, "gemini", failure="status:400")

    assert error.kind == "http"


def test_redirect_is_not_followed_and_key_never_reaches_the_target(loopback, serve, fetch):
    error = fail_with(loopback, serve, fetch, "openai", failure="redirect")

    assert error.kind == "http"
    assert "redirect" in str(error)
    assert len(loopback.requests_for("openai")) == 1
    assert loopback.sink_requests == []


def test_package_client_does_not_follow_redirects(loopback, serve):
    loopback.add("anthropic", failure="redirect")
    serve()
    [access] = logged_in(("anthropic",))
    loop = background_loop()

    async def attempt():
        try:
            await fetch_models(loop.client(), access)
        except ProviderError as exc:
            return exc
        return None

    error = loop.run(attempt())

    assert checked(error, "anthropic").kind == "http"
    assert loopback.sink_requests == []


def test_one_failing_provider_never_hides_the_others(loopback, serve, fetch, monkeypatch):
    loopback.add("openai", [FakeModel("gpt-4o")])
    loopback.add("anthropic", failure="status:500")
    loopback.add("gemini")
    loopback.add("mistral", [FakeModel("mistral-large-latest")])
    loopback.add("groq", failure="reset")
    serve()
    monkeypatch.setenv("GEMINI_API_KEY", "wrong")

    results = fetch()

    assert [r.access.id for r in results] == ["openai", "anthropic", "gemini", "groq", "mistral"]
    outcome = {r.access.id: r.error.kind if r.error else [m.id for m in r.models]
               for r in results}
    assert outcome == {"openai": ["gpt-4o"], "anthropic": "http", "gemini": "auth",
                       "groq": "unreachable", "mistral": ["mistral-large-latest"]}


def test_providers_are_asked_at_the_same_time(loopback, serve, fetch):
    for provider_id in ("openai", "anthropic"):
        loopback.add(provider_id, latency=0.3)
    serve()

    results = fetch()

    assert all(r.ok for r in results)
    assert loopback.max_overlap() >= 2


def test_time_limit_counts_every_page(loopback, serve, fetch):
    """Each page comes well within the limit, but all pages together do not."""
    loopback.add("anthropic", sample_models("anthropic", count=4), page_size=1, latency=0.2)
    serve()

    [result] = fetch(("anthropic",), timeout=0.5)

    assert checked(result.error, "anthropic").kind == "timeout"
    assert 1 <= len(loopback.requests_for("anthropic")) < 4


def test_every_page_within_a_generous_limit(loopback, serve, fetch):
    loopback.add("anthropic", sample_models("anthropic", count=4), page_size=1, latency=0.05)
    serve()

    [result] = fetch(("anthropic",), timeout=10)

    assert result.ok
    assert len(result.models) == 4
    assert len(loopback.requests_for("anthropic")) == 4


def test_results_come_as_each_provider_finishes(loopback, serve, with_client):
    loopback.add("openai", latency=0.5)
    loopback.add("anthropic")
    loopback.add("gemini", latency=0.25)
    serve()
    accesses = logged_in(("openai", "anthropic", "gemini"))

    async def collect(client):
        return [r.access.id async for r in fetch_each(client, accesses, timeout=10)]

    assert [a.id for a in accesses] == ["openai", "anthropic", "gemini"]
    assert with_client(collect) == ["anthropic", "gemini", "openai"]


def test_ollama_not_running_at_default_root_is_silently_absent(fetch):
    assert [a.id for a in logged_in()] == ["ollama"]

    assert fetch() == []


@pytest.mark.parametrize("variable, scheme", [("FORGE_OLLAMA_BASE_URL", "http://"),
                                              ("OLLAMA_HOST", "")])  # OLLAMA_HOST: host:port
def test_ollama_configured_but_not_running_is_unreachable(monkeypatch, fetch, closed_root,
                                                          variable, scheme):
    monkeypatch.setenv(variable, scheme + closed_root.removeprefix("http://"))

    [result] = fetch()

    assert checked(result.error, "ollama").kind == "unreachable"


def test_ollama_running_at_its_root_is_listed(loopback, serve, fetch):
    loopback.add("ollama", [FakeModel("llama3.2:latest")])
    serve()

    [result] = fetch()

    assert [m.full_name for m in result.models] == ["ollama/llama3.2:latest"]
