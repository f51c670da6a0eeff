"""OpenRouter `/models`: context, per-token pricing, modalities, `supported_parameters`."""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_dict, as_int, as_price, expect_list, to_models

AUTH = "bearer"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    pricing = as_dict(item, "pricing")
    top = as_dict(item, "top_provider")
    arch = as_dict(item, "architecture")
    params = item.get("supported_parameters")
    modalities = arch.get("input_modalities")
    return Model(
        provider_id=provider_id,
        id=item["id"],
        name=str(item.get("name") or item["id"]),
        context_length=as_int(item.get("context_length") or top.get("context_length")),
        max_output_tokens=as_int(top.get("max_completion_tokens")),
        tools=("tools" in params) if isinstance(params, list) else None,
        input_price=as_price(pricing.get("prompt"), per_token=True),
        output_price=as_price(pricing.get("completion"), per_token=True),
        input_modalities=tuple(m for m in modalities if isinstance(m, str))
        if isinstance(modalities, list) else (),
        created=as_int(item.get("created")),
    )


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    return Page(to_models(provider_id, expect_list(payload, "data"), to_model))
