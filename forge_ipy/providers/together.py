"""Together `/models`: a bare JSON list with `type`, `context_length` and `pricing` (USD per
million). Every model is listed, with the kind its `type` says."""

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
    expect_list,
    to_models,
    with_facts,
)

AUTH = "bearer"
HEADERS: dict[str, str] = {}
# Together's `type` -> our kind. "language" and "code" models answer `/completions` only.
KINDS = {"chat": "chat", "language": "completion", "code": "completion", "image": "image",
         "embedding": "embedding", "moderation": "moderation", "rerank": "other",
         "audio": "audio", "transcribe": "audio", "video": "other"}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    pricing = as_dict(item, "pricing")
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["id"],
        name=str(item.get("display_name") or item["id"]),
        kind=KINDS.get(str(item.get("type")).lower()),
        context_length=as_positive(item.get("context_length")),
        input_price=as_price(pricing.get("input")),
        output_price=as_price(pricing.get("output")),
        cache_read_price=as_price(pricing.get("cached_input")),
        created=as_int(item.get("created")),
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    return Page(to_models(provider_id, expect_list(payload, None), to_model))
