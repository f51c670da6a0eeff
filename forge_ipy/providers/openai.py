"""The OpenAI `/models` shape, shared by DeepSeek, xAI, Fireworks, Cerebras and custom endpoints.

OpenAI itself sends ids only. Others add fields to the same shape, read here since each only
adds to it: Groq `context_window`, `max_completion_tokens`, `active` and the listing format's
modalities, `supported_features` and `pricing` (wire.listing_fields); Mistral
`max_context_length`, `capabilities`, `deprecation`; Fireworks `kind`, `supports_*`,
`context_length`; vLLM `max_model_len`. Pages follow `has_more` + `after` when a server offers them.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import (
    Page,
    PageRequest,
    as_bool,
    as_dict,
    as_int,
    as_positive,
    expect_list,
    listing_fields,
    next_by_last_id,
    sunset_status,
    to_models,
    with_facts,
)

AUTH = "bearer"
HEADERS: dict[str, str] = {}


def first_page() -> PageRequest:
    return PageRequest("/models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    facts: dict[str, Any] = {
        "context_length": as_positive(
            item.get("context_window") or item.get("max_context_length")
            or item.get("context_length") or item.get("max_model_len")),
        "max_output_tokens": as_positive(item.get("max_completion_tokens")
                                         or item.get("max_tokens")),
        "status": "retired" if item.get("active") is False else None,  # Groq: no longer served
    }
    for extra in (listing_fields(item), _mistral_fields(item), _fireworks_fields(item)):
        facts.update((name, value) for name, value in extra.items() if value is not None)
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["id"],
        name=str(item.get("name") or item["id"]), created=as_int(item.get("created")), **facts))


# Mistral `capabilities` flags, in the order that decides a model's kind.
_MISTRAL_KINDS = (("completion_chat", "chat"), ("moderation", "moderation"),
                  ("ocr", "other"), ("completion_fim", "completion"),
                  ("classification", "other"), ("audio", "audio"))


def _mistral_fields(item: dict[str, Any]) -> dict[str, Any]:
    capabilities = as_dict(item, "capabilities")
    if "completion_chat" not in capabilities:  # not Mistral's flags (Azure has its own)
        return {}
    return {
        "tools": as_bool(capabilities.get("function_calling")),
        "status": sunset_status(item.get("deprecation")),
        "input_modalities": ("text",) + ("image",) * (capabilities.get("vision") is True)
        + ("audio",) * (capabilities.get("audio") is True),
        "kind": _mistral_kind(capabilities, str(item["id"])),
    }


def _mistral_kind(capabilities: dict[str, Any], model_id: str) -> str | None:
    if not isinstance(capabilities.get("completion_chat"), bool):
        return None  # flags we cannot read: let the catalog say
    # No flag set: mistral-embed, which says nothing of itself.
    return next((kind for flag, kind in _MISTRAL_KINDS if capabilities.get(flag) is True),
                "embedding" if "embed" in model_id else "other")


# Fireworks `kind`s that are not chat models whatever `supports_chat` says (its embedding
# models say `supports_chat: true`).
_FIREWORKS_KINDS = {"EMBEDDING_MODEL": "embedding", "FLUMINA_BASE_MODEL": "image",
                    "FLUMINA_ADDON": "image"}


def _fireworks_fields(item: dict[str, Any]) -> dict[str, Any]:
    if "supports_chat" not in item and "supports_tools" not in item:
        return {}
    chat = as_bool(item.get("supports_chat"))
    kind = _FIREWORKS_KINDS.get(str(item.get("kind")))
    fields: dict[str, Any] = {
        "tools": as_bool(item.get("supports_tools")),
        "kind": kind or {True: "chat", False: "completion", None: None}[chat],
    }
    image = as_bool(item.get("supports_image_input"))
    if image is not None:
        fields["input_modalities"] = ("text", "image") if image else ("text",)
    return fields


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "data")
    models = to_models(provider_id, items, to_model)
    return Page(models, next_by_last_id(payload, items, request, "after"))
