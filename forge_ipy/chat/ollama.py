"""The Ollama chat shape: `POST {root}/api/chat`.

Streams are NDJSON: one object per line with `message.content`, the last with `"done": true`,
`prompt_eval_count` (input tokens, absent when the prompt was cached) and `eval_count`.
Errors mid-stream come as `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Any

from .shape import (
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
    system = [{"role": "system", "content": options.system}] if options.system else []
    body: dict[str, Any] = {"model": model_id, "messages": system + messages, "stream": stream}
    settings = generation(options, "num_predict")
    if settings:
        body["options"] = settings
    return ChatRequest("/api/chat", body, framing="ndjson" if stream else "json")


def read_event(data: Any) -> Piece:
    data = obj(data, "a stream line")
    said = error_message(data)
    if said:
        raise ProviderSaid(said)
    message = data.get("message")
    text = text_of(message.get("content")) if isinstance(message, dict) else ""
    done = data.get("done") is True
    if not done:
        return Piece(text)
    return Piece(text, count(data.get("prompt_eval_count")), count(data.get("eval_count")),
                 done=True)


read_reply = read_event  # `"stream": false` answers the last line's shape, whole
