"""Ollama `/api/tags`: the models pulled on a local server. No key, one page."""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, expect_list, to_models

AUTH = "none"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/api/tags")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    model_id = item.get("model") or item["name"]
    return Model(provider_id=provider_id, id=str(model_id), name=str(item.get("name") or model_id))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "models")
    return Page(to_models(provider_id, items, to_model))
