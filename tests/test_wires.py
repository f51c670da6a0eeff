"""Each provider's wire shape, spoken by the loopback server and read by forge-ipy's wire
modules over real HTTP: fields, filtering, pagination, and the headers that carry the key."""

from __future__ import annotations

import pytest

from forge_ipy.domain import Model
from forge_ipy.testing import FakeModel, sample_models


@pytest.fixture
def models_of(loopback, serve, fetch):
    """`models_of(pid, models=None, **options)`: serve `pid`, fetch it, return its models."""

    def get(provider_id: str, models: list[FakeModel] | None = None, **options) -> list[Model]:
        loopback.add(provider_id, models, **options)
        serve()
        [result] = fetch((provider_id,))
        assert result.ok, result.error
        assert result.access.id == provider_id
        assert all(m.provider_id == provider_id for m in result.models)
        return list(result.models)

    return get


def ids(models: list[Model]) -> list[str]:
    return [m.id for m in models]


@pytest.mark.parametrize("provider_id", ["openai", "deepseek", "xai", "fireworks", "cerebras"])
def test_openai_shape(models_of, loopback, provider_id):
    models = models_of(provider_id, [FakeModel("chat-large"), FakeModel("chat/small:latest")])

    assert ids(models) == ["chat-large", "chat/small:latest"]
    assert [m.name for m in models] == ["chat-large", "chat/small:latest"]
    assert models[0].created == 1_700_000_000
    [request] = loopback.requests_for(provider_id)
    assert request.path == f"/{provider_id}/v1/models"
    assert request.auth_headers == ("authorization",)


def test_groq_context_window_and_max_completion_tokens(models_of):
    [model] = models_of("groq", [FakeModel("llama-3.3-70b-versatile", context_length=131072,
                                           max_output_tokens=32768)])

    assert model == Model(provider_id="groq", id="llama-3.3-70b-versatile",
                          name="llama-3.3-70b-versatile", context_length=131072,
                          max_output_tokens=32768, created=1_700_000_000)


def test_mistral_context_and_function_calling(models_of):
    models = models_of("mistral", [
        FakeModel("mistral-large-latest", name="Mistral Large", context_length=131072,
                  tools=True),
        FakeModel("mistral-tiny", context_length=32000, tools=False),
    ])

    assert [(m.id, m.name, m.context_length, m.tools) for m in models] == [
        ("mistral-large-latest", "Mistral Large", 131072, True),
        ("mistral-tiny", "mistral-tiny", 32000, False),
    ]


def test_together_bare_list_without_embedding_models(models_of):
    [model] = models_of("together", [
        FakeModel("meta-llama/Llama-3.3-70B-Instruct-Turbo", context_length=131072,
                  input_price=0.88, output_price=0.88),
        FakeModel("BAAI/bge-large-en-v1.5", chat=False),
    ])

    assert model.id == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert (model.context_length, model.input_price, model.output_price) == (131072, 0.88, 0.88)


def test_openrouter_context_prices_per_million_and_tools(models_of):
    models = models_of("openrouter", [
        FakeModel("openai/gpt-4o", name="OpenAI: GPT-4o", context_length=128000,
                  max_output_tokens=16384, tools=True, input_price=2.5, output_price=10.0),
        FakeModel("meta-llama/llama-3.3-70b-instruct", context_length=131072, tools=False,
                  input_price=0.12, output_price=0.3),
        FakeModel("openrouter/auto"),  # no context, prices that vary
    ])

    gpt, llama, auto = models
    assert (gpt.id, gpt.name, gpt.context_length, gpt.max_output_tokens) == (
        "openai/gpt-4o", "OpenAI: GPT-4o", 128000, 16384)
    assert (gpt.tools, gpt.input_price, gpt.output_price) == (True, 2.5, 10.0)
    assert (llama.tools, llama.input_price, llama.output_price) == (False, 0.12, 0.3)
    assert (auto.context_length, auto.input_price, auto.output_price) == (None, None, None)
    assert gpt.full_name == "openrouter/openai/gpt-4o"


def test_anthropic_headers_and_fields(models_of, loopback):
    models = models_of("anthropic", [
        FakeModel("claude-sonnet-4-5", name="Claude Sonnet 4.5", context_length=200000,
                  max_output_tokens=64000),
        FakeModel("claude-haiku-4-5", name="Claude Haiku 4.5", context_length=200000,
                  max_output_tokens=64000),
    ])

    assert [(m.id, m.name, m.context_length, m.max_output_tokens) for m in models] == [
        ("claude-sonnet-4-5", "Claude Sonnet 4.5", 200000, 64000),
        ("claude-haiku-4-5", "Claude Haiku 4.5", 200000, 64000),
    ]
    assert models[0].created is not None
    # the server refuses a request without `anthropic-version`, so being here proves it was sent
    assert all(r.auth_headers == ("x-api-key",) for r in loopback.requests_for("anthropic"))


def test_gemini_strips_prefix_and_keeps_only_generate_content(models_of, loopback):
    models = models_of("gemini", [
        FakeModel("gemini-2.5-pro", name="Gemini 2.5 Pro", context_length=1048576,
                  max_output_tokens=65536),
        FakeModel("text-embedding-004", chat=False),
        FakeModel("gemini-2.5-flash"),
    ])

    assert ids(models) == ["gemini-2.5-pro", "gemini-2.5-flash"]
    assert (models[0].name, models[0].context_length, models[0].max_output_tokens) == (
        "Gemini 2.5 Pro", 1048576, 65536)
    assert all(r.auth_headers == ("x-goog-api-key",) for r in loopback.requests_for("gemini"))


def test_ollama_tags(models_of, loopback):
    models = models_of("ollama", [FakeModel("llama3.2:latest"), FakeModel("qwen2.5-coder:7b")])

    assert ids(models) == ["llama3.2:latest", "qwen2.5-coder:7b"]
    [request] = loopback.requests_for("ollama")
    assert (request.path, request.auth_headers) == ("/ollama/api/tags", ())


@pytest.mark.parametrize("provider_id, page_param", [
    ("openai", "after"), ("anthropic", "after_id"), ("gemini", "pageToken"),
])
@pytest.mark.parametrize("page_size", [1, 2])
def test_every_page_is_followed_in_order(models_of, loopback, provider_id, page_param,
                                         page_size):
    """The server returns fewer models per page than the client asks for: follow them all."""
    many = sample_models(provider_id, count=5)

    models = models_of(provider_id, many, page_size=page_size)

    assert ids(models) == [m.id for m in many]
    requests = loopback.requests_for(provider_id)
    assert len(requests) == -(-len(many) // page_size)
    assert page_param not in requests[0].params
    assert all(page_param in r.params for r in requests[1:])


@pytest.mark.parametrize("provider_id, size_param", [("anthropic", "limit"),
                                                     ("gemini", "pageSize")])
def test_asks_for_large_pages(models_of, loopback, provider_id, size_param):
    models_of(provider_id)

    assert int(loopback.requests_for(provider_id)[0].params[size_param]) >= 1000


def test_custom_openai_compatible_provider_from_config(loopback, fetch, monkeypatch, tmp_path):
    loopback.add("gateway", [FakeModel("company-llm"), FakeModel("company-coder")],
                 wire="openai", key="gateway-secret")
    monkeypatch.setenv("GATEWAY_KEY", "gateway-secret")
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        "[providers.gateway]\n"
        'kind = "openai"\n'
        'name = "Company gateway"\n'
        f'base_url = "{loopback.root("gateway")}/"\n'
        'api_key_env = "GATEWAY_KEY"\n'
    )

    [result] = fetch()

    assert (result.access.id, result.access.name) == ("gateway", "Company gateway")
    assert result.access.key_source == "env:GATEWAY_KEY"
    assert result.ok, result.error
    assert [(m.provider_id, m.id) for m in result.models] == [
        ("gateway", "company-llm"), ("gateway", "company-coder")]


@pytest.mark.parametrize("root", ["http://[::1", "http://127.0.0.1:99999/v1",
                                  "http://127.0.0.1:1/v\x01", "ftp://example.com/v1"])
def test_an_invalid_api_root_fails_that_provider_only(loopback, serve, fetch, monkeypatch,
                                                      root):
    loopback.add("groq")
    serve()
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", root)
    results = {r.access.id: r for r in fetch()}
    assert results["groq"].ok
    assert results["openai"].error.kind == "unreachable"
    assert "is not a valid URL" in str(results["openai"].error)


@pytest.mark.parametrize("key", ["sk-abc\u200bX", "sk-SECRET123\nX", "sk-é"])
def test_a_key_no_header_can_carry_is_an_auth_error_that_never_shows_it(loopback, serve, fetch,
                                                                         monkeypatch, key):
    loopback.add("openai")
    loopback.add("groq")
    serve()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    results = {r.access.id: r for r in fetch()}
    assert results["groq"].ok
    error = results["openai"].error
    assert error.kind == "auth" and "SECRET" not in str(error) and "sk-" not in str(error)
