"""The Gemini chat shape: `POST {root}/models/{id}:streamGenerateContent?alt=sse`
(`:generateContent` when not streamed).

Each SSE event is a whole `GenerateContentResponse`: text in `candidates[0].content.parts`
(parts marked `thought` are the model's reasoning, not its reply), `usageMetadata` on the
last event at least. Thinking tokens are billed as output, so they count as output here.
No `[DONE]`: the stream ends when the connection does. The assistant's role is `model`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .shape import (
    BadEvent,
    ChatRequest,
    Message,
    Options,
    Piece,
    ProviderSaid,
    count,
    error_message,
    generation,
    obj,
    text_of,
)


def build(provider_id: str, model_id: str, messages: list[Message], options: Options,
          stream: bool) -> ChatRequest:
    contents = [{"role": "model" if m["role"] == "assistant" else "user",
                 "parts": [{"text": m["content"]}]} for m in messages]
    body: dict[str, Any] = {"contents": contents}
    if options.system:
        body["systemInstruction"] = {"parts": [{"text": options.system}]}
    config = generation(options, "maxOutputTokens")
    if config:
        body["generationConfig"] = config
    # The id comes from a provider's list: quoted, so it stays one path segment.
    model = quote(model_id.removeprefix("models/"), safe="")
    if stream:
        return ChatRequest(f"/models/{model}:streamGenerateContent", body, {"alt": "sse"})
    return ChatRequest(f"/models/{model}:generateContent", body, framing="json")


def read_event(data: Any) -> Piece:
    data = obj(data, "a stream event")
    said = error_message(data)
    if said:
        raise ProviderSaid(said)
    text = ""
    candidates = data.get("candidates") or []
    if not isinstance(candidates, list):
        raise BadEvent("`candidates` is not a list")
    if candidates and isinstance(candidates[0], dict):
        content = candidates[0].get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            text = "".join(text_of(p.get("text")) for p in parts
                           if isinstance(p, dict) and not p.get("thought"))
    usage = data.get("usageMetadata")
    if not isinstance(usage, dict):
        return Piece(text)
    candidates_out, thoughts = count(usage.get("candidatesTokenCount")), \
        count(usage.get("thoughtsTokenCount"))
    out = None if candidates_out is None and thoughts is None else \
        (candidates_out or 0) + (thoughts or 0)
    return Piece(text, count(usage.get("promptTokenCount")), out)


read_reply = read_event  # a non-streamed answer is one event of the same shape
