"""OpenRouter `/models`: context, per-token pricing (cache reads too), modalities,
`supported_parameters` (tools, reasoning) and `expiration_date`."""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import (
    Page,
    PageRequest,
    as_dict,
    as_int,
    as_positive,
    as_price,
    as_strings,
    expect_list,
    kind_from_modalities,
    sunset_status,
    to_models,
    with_facts,
)

AUTH = "bearer"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    pricing = as_dict(item, "pricing")
    top = as_dict(item, "top_provider")
    arch = as_dict(item, "architecture")
    params = as_strings(item.get("supported_parameters"))
    said = isinstance(item.get("supported_parameters"), list)
    inputs = as_strings(arch.get("input_modalities"))
    outputs = as_strings(arch.get("output_modalities"))
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["id"],
        name=str(item.get("name") or item["id"]),
        context_length=as_positive(item.get("context_length") or top.get("context_length")),
        max_output_tokens=as_positive(top.get("max_completion_tokens")),
        kind=kind_from_modalities(inputs, outputs),
        tools=("tools" in params) if said else None,
        reasoning=("reasoning" in params or "include_reasoning" in params) if said else None,
        input_price=as_price(pricing.get("prompt"), per_token=True),
        output_price=as_price(pricing.get("completion"), per_token=True),
        cache_read_price=as_price(pricing.get("input_cache_read"), per_token=True),
        input_modalities=inputs,
        output_modalities=outputs,
        knowledge=_text(item.get("knowledge_cutoff")),
        status=sunset_status(item.get("expiration_date")),
        created=as_int(item.get("created")),
    ))


def _text(value: Any) -> str | None:
    return value[:32] if isinstance(value, str) and value else None


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    return Page(to_models(provider_id, expect_list(payload, "data"), to_model))
