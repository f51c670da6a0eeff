"""Together `/models`: a bare JSON list with `context_length` and `pricing` (USD per million).

Image, embedding, audio, moderation and rerank models are left out: they cannot chat.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_dict, as_int, as_price, expect_list, to_models

AUTH = "bearer"
HEADERS: dict[str, str] = {}
CHAT_TYPES = {"chat", "language", "code"}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    pricing = as_dict(item, "pricing")
    return Model(
        provider_id=provider_id,
        id=item["id"],
        name=str(item.get("display_name") or item["id"]),
        context_length=as_int(item.get("context_length")),
        input_price=as_price(pricing.get("input")),
        output_price=as_price(pricing.get("output")),
        created=as_int(item.get("created")),
    )


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, None)
    chat = [i for i in items if i.get("type") is None or i.get("type") in CHAT_TYPES]
    return Page(to_models(provider_id, chat, to_model))
