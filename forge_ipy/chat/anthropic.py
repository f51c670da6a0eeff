"""The Anthropic chat shape: `POST {root}/messages`.

Streams are SSE events: `message_start` (input tokens), `ping`, `content_block_start`,
`content_block_delta` (`text_delta`; thinking and tool deltas carry no reply text),
`content_block_stop`, `message_delta` (the output tokens so far), `message_stop`, and
`error` (e.g. `overloaded_error`) in the middle of a stream.
"""

from __future__ import annotations

from typing import Any

from .shape import (
    NOTHING,
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

# The API requires max_tokens; this is what a request without one asks for.
DEFAULT_MAX_TOKENS = 4096


def build(provider_id: str, model_id: str, messages: list[Message], options: Options,
          stream: bool) -> ChatRequest:
    body: dict[str, Any] = {"model": model_id, "messages": messages, "stream": stream,
                            "max_tokens": DEFAULT_MAX_TOKENS, **generation(options, "max_tokens")}
    if options.system:
        body["system"] = options.system
    return ChatRequest("/messages", body, framing="sse" if stream else "json")


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return count(usage.get("input_tokens")), count(usage.get("output_tokens"))


def read_event(data: Any) -> Piece:
    data = obj(data, "a stream event")
    kind = data.get("type")
    if kind == "content_block_delta":
        delta = data.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            return Piece(text_of(delta.get("text")))
        return NOTHING
    if kind == "message_start":
        message = obj(data.get("message"), "message_start's message")
        tokens_in, _ = _usage(message.get("usage"))
        return Piece(input_tokens=tokens_in)
    if kind == "message_delta":
        tokens_in, tokens_out = _usage(data.get("usage"))
        return Piece(input_tokens=tokens_in, output_tokens=tokens_out)
    if kind == "message_stop":
        return Piece(done=True)
    if kind == "error":
        raise ProviderSaid(error_message(data) or "error event")
    return NOTHING  # ping, content_block_start/stop, and event types added later


def read_reply(data: Any) -> Piece:
    data = obj(data, "the answer")
    content = data.get("content")
    if not isinstance(content, list):
        raise BadEvent("the answer has no `content` list")
    text = "".join(text_of(block.get("text")) for block in content
                   if isinstance(block, dict) and block.get("type") == "text")
    return Piece(text, *_usage(data.get("usage")))
