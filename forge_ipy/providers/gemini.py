"""Gemini `/v1beta/models`: `x-goog-api-key`, pages by `pageToken`, ids as `models/<id>`.

Only models that support `generateContent` are chat models; embedding and other models are
left out.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_int, expect_list, to_models

PAGE_SIZE = "1000"


AUTH = "x-goog-api-key"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models", {"pageSize": PAGE_SIZE})


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    model_id = item["name"].removeprefix("models/")
    return Model(
        provider_id=provider_id,
        id=model_id,
        name=str(item.get("displayName") or model_id),
        context_length=as_int(item.get("inputTokenLimit")),
        max_output_tokens=as_int(item.get("outputTokenLimit")),
        tools=None,
        input_modalities=(),
    )


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "models") if payload != {} else []
    chat = [i for i in items if "generateContent" in (i.get("supportedGenerationMethods") or ())]
    models = to_models(provider_id, chat, to_model)
    token = payload.get("nextPageToken")
    if isinstance(token, str) and token:
        return Page(models, PageRequest(request.path, {**request.params, "pageToken": token}))
    return Page(models)
