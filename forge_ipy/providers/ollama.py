"""Ollama `/api/tags`: the models pulled on a local server. No key, one page.

Newer servers say what each model does (`capabilities`: completion, tools, vision, thinking,
embedding, insert, image, audio) and its context (`details.context_length`); `details` also
gives the size and quantisation, shown in the name (`llama3.2:latest · 3.2B Q4_K_M`).
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import (
    Page,
    PageRequest,
    as_dict,
    as_positive,
    as_strings,
    expect_list,
    to_models,
    with_facts,
)

# Families of embedding-only architectures: older servers send no `capabilities`.
EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "xlm-roberta", "jina-bert-v2"})

AUTH = "none"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/api/tags")


def kind_of(capabilities: tuple[str, ...], family: object) -> str | None:
    if "completion" in capabilities:
        return "chat"
    if "embedding" in capabilities or (not capabilities and isinstance(family, str)
                                       and family in EMBEDDING_FAMILIES):
        return "embedding"
    if "image" in capabilities:
        return "image"
    return "completion" if "insert" in capabilities else None


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    model_id = str(item.get("model") or item["name"])
    details = as_dict(item, "details")
    capabilities = as_strings(item.get("capabilities"))
    size = " ".join(details[k][:32] for k in ("parameter_size", "quantization_level")
                    if isinstance(details.get(k), str) and details[k])
    name = str(item.get("name") or model_id)
    inputs = ("text",) + ("image",) * ("vision" in capabilities) \
        + ("audio",) * ("audio" in capabilities)
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=model_id,
        name=f"{name} · {size}" if size else name,
        context_length=as_positive(details.get("context_length")),
        kind=kind_of(capabilities, details.get("family")),
        tools=("tools" in capabilities) if capabilities else None,
        reasoning=("thinking" in capabilities) if capabilities else None,
        input_modalities=inputs if capabilities else (),
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "models")
    return Page(to_models(provider_id, items, to_model))
