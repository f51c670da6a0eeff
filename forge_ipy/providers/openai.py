"""The OpenAI `/models` shape, shared by DeepSeek, xAI, Fireworks, Cerebras and custom endpoints.

Groq adds `context_window`, Mistral `max_context_length` and `capabilities`; both are read
here since they only add fields to the same shape. Pages follow `has_more` + `after` when a
server offers them.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_dict, as_int, expect_list, next_by_last_id, to_models

AUTH = "bearer"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    capabilities = as_dict(item, "capabilities")
    tools = capabilities.get("function_calling")
    modalities = ["text"] + (["image"] if capabilities.get("vision") else [])
    return Model(
        provider_id=provider_id,
        id=item["id"],
        name=str(item.get("name") or item["id"]),
        context_length=as_int(
            item.get("context_window") or item.get("max_context_length")
            or item.get("context_length")
        ),
        max_output_tokens=as_int(item.get("max_completion_tokens") or item.get("max_tokens")),
        tools=tools if isinstance(tools, bool) else None,
        input_modalities=tuple(modalities) if capabilities else (),
        created=as_int(item.get("created")),
    )


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "data")
    models = to_models(provider_id, items, to_model)
    return Page(models, next_by_last_id(payload, items, request, "after"))
