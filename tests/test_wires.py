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
                          max_output_tokens=32768, created=1_700_000_000, kind="chat",
                          tools=False, reasoning=False, input_modalities=("text",),
                          output_modalities=("text",), facts_from=("provider",))


def test_groq_features_modalities_prices_and_non_chat_models(models_of):
    """Groq's whisper (audio in) and TTS (audio out) models are audio by their modalities;
    `supported_features` says tools and reasoning; an inactive model is retired."""
    models = {m.id: m for m in models_of("groq", [
        FakeModel("openai/gpt-oss-120b", context_length=131072, max_output_tokens=65536,
                  tools=True, reasoning=True, input_price=0.15, output_price=0.6,
                  cache_read_price=0.075),
        FakeModel("whisper-large-v3", context_length=448, max_output_tokens=448, kind="audio"),
        FakeModel("playai-tts", context_length=8192, max_output_tokens=8192, kind="audio"),
        FakeModel("qwen/qwen3.6-27b", vision=True, status="retired"),
    ])}

    gpt = models["openai/gpt-oss-120b"]
    assert (gpt.kind, gpt.tools, gpt.reasoning) == ("chat", True, True)
    assert (gpt.input_price, gpt.output_price, gpt.cache_read_price) == (0.15, 0.6, 0.075)
    assert models["whisper-large-v3"].kind == "audio"
    assert models["whisper-large-v3"].input_modalities == ("audio",)
    assert models["playai-tts"].kind == "audio"
    assert models["playai-tts"].output_modalities == ("audio",)
    qwen = models["qwen/qwen3.6-27b"]
    assert (qwen.input_modalities, qwen.status) == (("text", "image"), "retired")


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


def test_mistral_capabilities_decide_kind_vision_and_deprecation(models_of):
    models = {m.id: m for m in models_of("mistral", [
        FakeModel("pixtral-large-latest", tools=True, vision=True),
        FakeModel("mistral-ocr-latest", kind="other"),
        FakeModel("mistral-moderation-latest", kind="moderation"),
        FakeModel("codestral-2405", kind="completion"),
        FakeModel("mistral-small-2409", tools=True, status="deprecated"),
        FakeModel("open-mistral-7b", status="retired"),
    ])}

    assert models["pixtral-large-latest"].kind == "chat"
    assert models["pixtral-large-latest"].input_modalities == ("text", "image")
    assert models["mistral-ocr-latest"].kind == "other"
    assert models["mistral-moderation-latest"].kind == "moderation"
    assert models["codestral-2405"].kind == "completion"
    assert models["mistral-small-2409"].status == "deprecated"
    assert models["open-mistral-7b"].status == "retired"
    assert models["pixtral-large-latest"].facts_from == ("provider",)


def test_mistral_embed_with_no_capability_set_is_an_embedding_model(models_of, loopback):
    """mistral-embed's `capabilities` are all false; its id is the only signal."""
    [model] = models_of("mistral", [FakeModel("mistral-embed", kind="embedding")])

    assert model.kind == "embedding"


def test_fireworks_kind_and_supports_fields(models_of):
    models = {m.id.rpartition("/")[2]: m for m in models_of("fireworks", [
        FakeModel("accounts/fireworks/models/glm-5", context_length=202752, tools=True),
        FakeModel("accounts/fireworks/models/qwen2p5-vl-32b-instruct", vision=True),
        FakeModel("accounts/fireworks/models/qwen3-embedding-8b", kind="embedding"),
        FakeModel("accounts/fireworks/models/flux-1-dev-fp8", kind="image"),
        FakeModel("accounts/fireworks/models/llama-v3p1-8b", kind="completion"),
    ])}

    glm = models["glm-5"]
    assert (glm.kind, glm.tools, glm.context_length) == ("chat", True, 202752)
    assert models["qwen2p5-vl-32b-instruct"].input_modalities == ("text", "image")
    # its embedding models say `supports_chat: true`: the kind wins
    assert models["qwen3-embedding-8b"].kind == "embedding"
    assert models["flux-1-dev-fp8"].kind == "image"
    assert models["llama-v3p1-8b"].kind == "completion"


def test_a_vllm_server_gives_its_context(loopback, fetch, monkeypatch, tmp_path):
    vllm = {"owned_by": "vllm", "root": "Qwen/Qwen3-8B", "parent": None,
            "max_model_len": 32768, "permission": [{"id": "modelperm-1", "allow_sampling": True}]}
    loopback.add("local", [FakeModel("Qwen/Qwen3-8B", fields=vllm)], wire="openai", key=None)
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[providers.local]\nbase_url = "{loopback.root("local")}"\n')

    [result] = fetch()

    assert [(m.id, m.context_length, m.facts_from) for m in result.models] == [
        ("Qwen/Qwen3-8B", 32768, ("provider",))]


@pytest.mark.parametrize("provider_id", ["openai", "deepseek", "xai", "cerebras"])
def test_lists_without_signals_leave_kind_to_the_catalog(models_of, provider_id):
    [model] = models_of(provider_id, [FakeModel("text-embedding-3-small", kind="embedding")])

    assert (model.kind, model.facts_from) == (None, ())


def test_together_lists_every_type_with_its_kind(models_of):
    models = {m.id: m for m in models_of("together", [
        FakeModel("meta-llama/Llama-3.3-70B-Instruct-Turbo", context_length=131072,
                  input_price=0.88, output_price=0.88),
        FakeModel("BAAI/bge-large-en-v1.5", chat=False),
        FakeModel("black-forest-labs/FLUX.1-schnell", kind="image"),
        FakeModel("meta-llama/Llama-Guard-4-12B", kind="moderation"),
        FakeModel("Salesforce/Llama-Rank-V1", kind="other"),
        FakeModel("openai/whisper-large-v3", kind="audio"),
        FakeModel("meta-llama/Meta-Llama-3-70B", kind="completion"),
    ])}

    llama = models["meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    assert (llama.kind, llama.context_length, llama.input_price, llama.output_price) == (
        "chat", 131072, 0.88, 0.88)
    assert {m.id: m.kind for m in models.values() if m is not llama} == {
        "BAAI/bge-large-en-v1.5": "embedding", "black-forest-labs/FLUX.1-schnell": "image",
        "meta-llama/Llama-Guard-4-12B": "moderation", "Salesforce/Llama-Rank-V1": "other",
        "openai/whisper-large-v3": "audio", "meta-llama/Meta-Llama-3-70B": "completion"}


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


def test_openrouter_reasoning_cache_price_modalities_and_expiry(models_of):
    models = {m.id: m for m in models_of("openrouter", [
        FakeModel("deepseek/deepseek-r1", reasoning=True, tools=True, input_price=0.4,
                  output_price=2.0, cache_read_price=0.1, status="deprecated"),
        FakeModel("google/gemini-2.5-flash-image", kind="image", vision=True),
        FakeModel("openai/text-embedding-3-small", kind="embedding"),
        FakeModel("openai/gpt-4-32k", status="retired"),
    ])}

    r1 = models["deepseek/deepseek-r1"]
    assert (r1.kind, r1.reasoning, r1.tools, r1.cache_read_price, r1.status) == (
        "chat", True, True, 0.1, "deprecated")
    assert (r1.input_modalities, r1.output_modalities) == (("text",), ("text",))
    assert models["google/gemini-2.5-flash-image"].kind == "image"
    assert models["openai/text-embedding-3-small"].kind == "embedding"
    assert models["openai/gpt-4-32k"].status == "retired"


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


def test_anthropic_capabilities_and_lifecycle(models_of):
    opus, haiku, old = models_of("anthropic", [
        FakeModel("claude-opus-4-6", context_length=200000, max_output_tokens=128000,
                  reasoning=True),
        FakeModel("claude-3-5-haiku-20241022", reasoning=False, vision=False,
                  status="deprecated"),
        FakeModel("claude-3-opus-20240229", status="retired"),
    ])

    assert (opus.kind, opus.tools, opus.reasoning, opus.input_modalities) == (
        "chat", True, True, ("text", "image"))
    assert (opus.release_date, opus.facts_from) == ("2025-05-14", ("provider",))
    assert (haiku.reasoning, haiku.input_modalities, haiku.status) == (
        False, ("text",), "deprecated")
    # Anthropic sends 0 for limits it does not give: unknown, not zero
    assert (haiku.context_length, haiku.max_output_tokens) == (None, None)
    assert old.status == "retired"


def test_gemini_strips_prefix_and_lists_every_model_with_its_kind(models_of, loopback):
    models = models_of("gemini", [
        FakeModel("gemini-2.5-pro", name="Gemini 2.5 Pro", context_length=1048576,
                  max_output_tokens=65536, reasoning=True),
        FakeModel("text-embedding-004", chat=False),
        FakeModel("gemini-2.5-flash"),
        FakeModel("imagen-4.0-generate-001", kind="image"),
        FakeModel("veo-3.0-generate-001", kind="other"),
        FakeModel("gemini-2.0-flash-live-001", kind="audio"),
    ])

    assert ids(models) == ["gemini-2.5-pro", "text-embedding-004", "gemini-2.5-flash",
                           "imagen-4.0-generate-001", "veo-3.0-generate-001",
                           "gemini-2.0-flash-live-001"]
    pro = models[0]
    assert (pro.name, pro.context_length, pro.max_output_tokens, pro.reasoning) == (
        "Gemini 2.5 Pro", 1048576, 65536, True)
    # generateContent: a chat model unless the catalog or the id rules say otherwise
    assert (pro.kind, models[2].kind) == (None, None)
    assert [m.kind for m in models[3:]] == ["image", "other", "audio"]
    assert models[1].kind == "embedding"
    assert all(r.auth_headers == ("x-goog-api-key",) for r in loopback.requests_for("gemini"))


def test_ollama_tags(models_of, loopback):
    models = models_of("ollama", [FakeModel("llama3.2:latest"), FakeModel("qwen2.5-coder:7b")])

    assert ids(models) == ["llama3.2:latest", "qwen2.5-coder:7b"]
    assert models[0].name == "llama3.2:latest · 3.2B Q4_K_M"
    [request] = loopback.requests_for("ollama")
    assert (request.path, request.auth_headers) == ("/ollama/api/tags", ())


def test_ollama_capabilities_and_context(models_of):
    chat, embed, vision = models_of("ollama", [
        FakeModel("qwen3:8b", context_length=40960, tools=True, reasoning=True),
        FakeModel("nomic-embed-text:latest", chat=False, context_length=2048),
        FakeModel("gemma3:4b", vision=True),
    ])

    assert (chat.kind, chat.tools, chat.reasoning, chat.context_length) == (
        "chat", True, True, 40960)
    assert (embed.kind, embed.context_length) == ("embedding", 2048)
    assert (vision.kind, vision.tools, vision.input_modalities) == (
        "chat", False, ("text", "image"))


def test_ollama_without_capabilities_knows_embedding_families(loopback, serve, fetch):
    """Older servers send no `capabilities`: a BERT family is still an embedding model."""
    from forge_ipy.providers import ollama

    item = {"name": "all-minilm:latest", "model": "all-minilm:latest",
            "details": {"format": "gguf", "family": "bert", "parameter_size": "23M",
                        "quantization_level": "F16"}}
    [model] = ollama.parse_page("ollama", {"models": [item]}, ollama.first_page()).models

    assert (model.kind, model.tools, model.name) == ("embedding", None,
                                                     "all-minilm:latest · 23M F16")


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


def _gateway_config(tmp_path, root: str) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[providers.gateway]\nkind = "litellm"\nbase_url = "{root}"\n'
                      'api_key_env = "GATEWAY_KEY"\n')


def test_litellm_gateway_describes_its_models(loopback, fetch, monkeypatch, tmp_path):
    loopback.add("gateway", [
        FakeModel("claude-sonnet", context_length=200000, max_output_tokens=64000, tools=True,
                  vision=True, reasoning=True, input_price=3.0, output_price=15.0),
        FakeModel("embedder", kind="embedding", input_price=0.02),
        FakeModel("gpt-image", kind="image"),
        FakeModel("plain")], wire="litellm", key="gateway-secret")
    monkeypatch.setenv("GATEWAY_KEY", "gateway-secret")
    _gateway_config(tmp_path, loopback.root("gateway"))

    [result] = fetch()

    assert result.ok, result.error
    models = {m.id: m for m in result.models}
    sonnet = models["claude-sonnet"]
    assert (sonnet.context_length, sonnet.max_output_tokens, sonnet.tools, sonnet.reasoning) \
        == (200000, 64000, True, True)
    assert (sonnet.input_price, sonnet.output_price) == (3.0, 15.0)  # per token -> per 1M
    assert (sonnet.kind, sonnet.input_modalities, sonnet.facts_from) == (
        "chat", ("text", "image"), ("gateway",))
    assert (models["embedder"].kind, models["embedder"].input_price) == ("embedding", 0.02)
    assert models["gpt-image"].kind == "image"
    assert models["plain"].facts_from == ("gateway",)  # its mode says chat
    paths = [r.path for r in loopback.requests_for("gateway")]
    assert paths == ["/gateway/v1/models", "/gateway/model_group/info"]
    assert all(r.auth_headers == ("authorization",) for r in loopback.requests_for("gateway"))


def test_a_gateway_without_the_description_route_still_lists(loopback, fetch, monkeypatch,
                                                             tmp_path):
    loopback.add("gateway", [FakeModel("company-llm")], wire="openai", key="gateway-secret")
    monkeypatch.setenv("GATEWAY_KEY", "gateway-secret")
    _gateway_config(tmp_path, loopback.root("gateway"))

    [result] = fetch()

    assert result.ok, result.error
    assert [(m.id, m.facts_from) for m in result.models] == [("company-llm", ())]
    assert [r.path for r in loopback.requests_for("gateway")][-1] == \
        "/gateway/model_group/info"  # asked, answered 404, and the list stands


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


# -- hostile and odd values: a fact that is not what it should be is unknown, never an error
ODD = [1e308, -5, "many", True, None, {"a": 1}, [1, 2], "x" * 100_000]


@pytest.mark.parametrize("provider_id, fields", [
    ("groq", {"context_window": "many", "active": "no", "input_modalities": ["audio"] * 10_000,
              "output_modalities": "text", "supported_features": {"tools": True},
              "pricing": {"prompt": "free", "completion": -1, "input_cache_read": [1]},
              "max_output_length": True}),
    ("mistral", {"capabilities": {"completion_chat": "yes", "function_calling": 1,
                                  "vision": None}, "deprecation": {"at": 1},
                 "max_context_length": -1}),
    ("fireworks", {"kind": ["EMBEDDING_MODEL"], "supports_chat": "true",
                   "supports_tools": None, "supports_image_input": 0, "context_length": 1.5}),
    ("anthropic", {"capabilities": {"thinking": True, "image_input": {"supported": "yes"}},
                   "lifecycle": ["retired"], "max_input_tokens": "200000x",
                   "created_at": 5}),
    ("gemini", {"supportedGenerationMethods": "generateContent", "thinking": "on",
                "inputTokenLimit": [1]}),
    ("openrouter", {"architecture": {"input_modalities": "text", "output_modalities": [1, None]},
                    "supported_parameters": "tools", "expiration_date": ["2020-01-01"],
                    "knowledge_cutoff": {"date": 1}, "pricing": "free"}),
    ("together", {"type": ["chat"], "pricing": [], "context_length": "131072 tokens"}),
    ("ollama", {"capabilities": "completion,tools", "details": {"context_length": "big",
                                                                "family": ["bert"],
                                                                "parameter_size": 7}}),
])
def test_odd_facts_are_unknown_and_the_model_still_lists(models_of, provider_id, fields):
    [model] = models_of(provider_id, [FakeModel("odd-model", fields=fields)])

    assert model.id == "odd-model"
    assert model.context_length is None
    assert model.kind in (None, "chat")  # nothing it said could be read as another kind
    assert model.status is None
    assert all(isinstance(m, str) and len(m) <= 64 for m in model.input_modalities)
    assert len(model.input_modalities) <= 64


def test_a_hostile_or_malformed_gateway_description_leaves_the_list():
    from forge_ipy.providers import litellm

    models = [Model(provider_id="gateway", id="m")]
    for payload in ({"data": "x"}, [], {"data": [{"model_group": ["m"]}, 5]},
                    {"data": [{"model_group": "m", "max_input_tokens": "huge",
                               "input_cost_per_token": -1, "mode": {"x": 1},
                               "supports_vision": "yes"}]}):
        assert litellm.merge(models, litellm.documents("http://h/v1")[0], payload) == models
    # the document route is beside /v1, on the same origin, or under a root without /v1
    assert [d.path for d in litellm.documents("http://h:4000/v1")] == ["/../model_group/info"]
    assert [d.path for d in litellm.documents("http://h:4000")] == ["/model_group/info"]
