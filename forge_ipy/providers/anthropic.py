"""Anthropic `/v1/models`: `x-api-key` + `anthropic-version`, pages by `after_id` / `has_more`.

Every model it lists is a chat model taking tools. `capabilities` says which take images
(`image_input`) and think (`thinking`); `lifecycle` says which are deprecated or retired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain import MODEL_STATUSES, Model
from .wire import (
    Page,
    PageRequest,
    as_dict,
    as_positive,
    expect_list,
    next_by_last_id,
    to_models,
    with_facts,
)

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


def _release_date(value: Any) -> str | None:
    """The day of `created_at` (`2025-05-14`); None for the epoch Anthropic sends when unknown."""
    if not isinstance(value, str) or len(value) < 10 or value.startswith("1970"):
        return None
    return value[:10]


def _supported(capabilities: dict[str, Any], name: str) -> bool | None:
    """`capabilities[name].supported`, or None when the model does not say."""
    value = as_dict(capabilities, name).get("supported")
    return value if isinstance(value, bool) else None


def _status(lifecycle: Any) -> str | None:
    """`deprecated` or `retired` from `lifecycle`, a stage name or an object holding one."""
    stage = ((lifecycle.get("stage") or lifecycle.get("status"))
             if isinstance(lifecycle, dict) else lifecycle)
    return stage.lower() if isinstance(stage, str) and stage.lower() in MODEL_STATUSES else None


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    capabilities = as_dict(item, "capabilities")
    images = _supported(capabilities, "image_input")
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["id"],
        name=str(item.get("display_name") or item["id"]),
        context_length=as_positive(item.get("max_input_tokens")),
        max_output_tokens=as_positive(item.get("max_tokens")),
        kind="chat",
        tools=True,  # every model the Messages API lists takes `tools`
        reasoning=_supported(capabilities, "thinking"),
        input_modalities=("text",) if images is False else ("text", "image"),
        status=_status(item.get("lifecycle")),
        release_date=_release_date(item.get("created_at")),
        created=_created(item.get("created_at")),
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "data")
    models = to_models(provider_id, items, to_model)
    return Page(models, next_by_last_id(payload, items, request, "after_id"))
