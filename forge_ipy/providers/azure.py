"""Azure OpenAI `{endpoint}/openai/v1/models`: the OpenAI list shape, the key in `api-key`.

Azure says what each model can do (`capabilities`: chat_completion, completion, embeddings,
inference, fine_tune) and where it is in its life (`lifecycle_status`, and `deprecation`
dates after which it no longer answers); both are read for the model's kind and status.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from ..domain import Model
from .wire import (
    Page,
    PageRequest,
    as_dict,
    as_int,
    expect_list,
    next_by_last_id,
    to_models,
    with_facts,
)

AUTH = "api-key"
HEADERS: dict[str, str] = {}
_DEPRECATED = ("deprecating", "deprecated", "retiring", "retired")


def first_page() -> PageRequest:
    return PageRequest("/models")


def _kind(capabilities: dict[str, Any]) -> str | None:
    """The first capability that names a kind; None leaves it to the catalog (DALL-E, Whisper
    say nothing but `inference`)."""
    for capability, kind in (("chat_completion", "chat"), ("embeddings", "embedding"),
                             ("completion", "completion")):
        if capabilities.get(capability) is True:
            return kind
    return "other" if capabilities.get("inference") is False else None  # fine-tuning only


def _status(item: dict[str, Any], now: float) -> str | None:
    ends = as_int(as_dict(item, "deprecation").get("inference"))
    if ends is not None and ends <= now:
        return "retired"
    lifecycle = item.get("lifecycle_status")
    return "deprecated" if isinstance(lifecycle, str) and lifecycle in _DEPRECATED else None


def to_model(provider_id: str, item: dict[str, Any], now: float) -> Model:
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["id"],
        name=str(item.get("name") or item["id"]),
        created=as_int(item.get("created_at") or item.get("created")),
        kind=_kind(as_dict(item, "capabilities")),
        status=_status(item, now),
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "data")
    now = time.time()
    models = to_models(provider_id, items, functools.partial(to_model, now=now))
    return Page(models, next_by_last_id(payload, items, request, "after"))
