"""Anthropic `/v1/models`: `x-api-key` + `anthropic-version`, pages by `after_id` / `has_more`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_int, expect_list, next_by_last_id, to_models

API_VERSION = "2023-06-01"
PAGE_LIMIT = "1000"


AUTH = "x-api-key"
HEADERS = {"anthropic-version": API_VERSION}


def first_page() -> PageRequest:
    return PageRequest("/models", {"limit": PAGE_LIMIT})


def _created(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    return Model(
        provider_id=provider_id,
        id=item["id"],
        name=str(item.get("display_name") or item["id"]),
        context_length=as_int(item.get("max_input_tokens")),
        max_output_tokens=as_int(item.get("max_tokens")),
        tools=True,  # every model the Messages API lists takes `tools`
        input_modalities=("text", "image"),
        created=_created(item.get("created_at")),
    )


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "data")
    models = to_models(provider_id, items, to_model)
    return Page(models, next_by_last_id(payload, items, request, "after_id"))
