"""A LiteLLM proxy: lists like the OpenAI shape, and describes its models at `/model_group/info`
(context, output limit, per-token prices, tools, vision, reasoning, mode).

Facts from the proxy's description are the gateway's (`facts_from` "gateway"). A proxy
without that route (an older LiteLLM, or another gateway declared as `litellm`) still lists.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .openai import *  # noqa: F403 - the same list shape, signing and pages
from .wire import PageRequest, as_bool, as_positive, as_price

# LiteLLM's `mode` -> our kind.
KINDS = {"chat": "chat", "responses": "chat", "completion": "completion",
         "embedding": "embedding", "image_generation": "image", "image_edit": "image",
         "audio_transcription": "audio", "audio_speech": "audio", "realtime": "audio",
         "moderation": "moderation", "moderations": "moderation", "rerank": "other",
         "video_generation": "other", "ocr": "other", "search": "other"}


def documents(root: str) -> tuple[PageRequest, ...]:
    """The route LiteLLM serves at the proxy's root, beside `/v1` (httpx resolves the `..`,
    so the request stays on the provider's own origin)."""
    up = "/.." if root.rstrip("/").endswith("/v1") else ""
    return (PageRequest(f"{up}/model_group/info"),)


def merge(models: list[Model], request: PageRequest, payload: Any) -> list[Model]:
    """`models` with what the proxy says of each model group filled in; a description in
    another shape adds nothing (the list stands without it)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    groups = {item["model_group"]: item for item in data if isinstance(item, dict)
              and isinstance(item.get("model_group"), str)} if isinstance(data, list) else {}
    return [_describe(model, groups[model.id]) if model.id in groups else model
            for model in models]


def _describe(model: Model, group: dict[str, Any]) -> Model:
    vision = as_bool(group.get("supports_vision"))
    facts = dict(
        context_length=as_positive(group.get("max_input_tokens")),
        max_output_tokens=as_positive(group.get("max_output_tokens")),
        input_price=as_price(group.get("input_cost_per_token"), per_token=True),
        output_price=as_price(group.get("output_cost_per_token"), per_token=True),
        tools=as_bool(group.get("supports_function_calling")),
        reasoning=as_bool(group.get("supports_reasoning")),
        kind=KINDS.get(str(group.get("mode")).lower()),
        input_modalities=() if vision is None else ("text", "image") if vision else ("text",),
    )
    # What the proxy's own list said first wins, field by field.
    update = {name: value for name, value in facts.items()
              if value not in (None, ()) and getattr(model, name) in (None, ())}
    if not update:
        return model
    return model.model_copy(update={**update, "facts_from": (*model.facts_from, "gateway")})
