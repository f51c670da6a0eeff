"""Gemini `/v1beta/models`: `x-goog-api-key`, pages by `pageToken`, ids as `models/<id>`.

Every model is listed, with the kind its `supportedGenerationMethods` say: embedding models
(`embedContent`), image generators (`predict`), video generators (`predictLongRunning`),
live-audio models (`bidiGenerateContent` only). A `generateContent` model is left for the
catalog and the id rules to name: Gemini's TTS, image and music generators answer
`generateContent` too.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import (
    Page,
    PageRequest,
    as_bool,
    as_positive,
    as_strings,
    expect_list,
    to_models,
    with_facts,
)

PAGE_SIZE = "1000"


AUTH = "x-goog-api-key"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models", {"pageSize": PAGE_SIZE})


def kind_of(methods: tuple[str, ...]) -> str | None:
    """The kind a model's generation methods say, or None (a chat model, unless the catalog
    or the id rules know better)."""
    if not methods or "generatecontent" in methods:
        return None
    if any(m.startswith(("embedcontent", "embedtext", "batchembed")) for m in methods):
        return "embedding"
    if "predict" in methods:
        return "image"
    if "bidigeneratecontent" in methods:
        return "audio"
    return "other"  # predictLongRunning (video), generateAnswer (attributed answers), ...


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    model_id = item["name"].removeprefix("models/")
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=model_id,
        name=str(item.get("displayName") or model_id),
        context_length=as_positive(item.get("inputTokenLimit")),
        max_output_tokens=as_positive(item.get("outputTokenLimit")),
        kind=kind_of(as_strings(item.get("supportedGenerationMethods"))),
        reasoning=as_bool(item.get("thinking")),
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "models") if payload != {} else []
    models = to_models(provider_id, items, to_model)
    token = payload.get("nextPageToken")
    if isinstance(token, str) and token:
        return Page(models, PageRequest(request.path, {**request.params, "pageToken": token}))
    return Page(models)
