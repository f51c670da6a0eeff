"""The OpenAI chat shape: `POST {root}/chat/completions`, shared by every OpenAI-compatible
provider (Groq, Mistral, DeepSeek, xAI, Together, Fireworks, Cerebras, OpenRouter, custom
endpoints).

Streams are SSE of `chat.completion.chunk` objects ending with `data: [DONE]`; with
`stream_options.include_usage` the last chunk has `"choices": []` and the `usage`.
OpenRouter interleaves `: OPENROUTER PROCESSING` comments, which the SSE reader drops.
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

DONE = "[DONE]"


def build(provider_id: str, model_id: str, messages: list[Message], options: Options,
          stream: bool) -> ChatRequest:
    system = [{"role": "system", "content": options.system}] if options.system else []
    body: dict[str, Any] = {"model": model_id, "messages": system + messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    # OpenAI's reasoning models refuse `max_tokens`; the others know only that name.
    body.update(generation(options, "max_completion_tokens" if provider_id == "openai"
                           else "max_tokens"))
    return ChatRequest("/chat/completions", body, framing="sse" if stream else "json")


def _usage(data: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None, None
    return count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))


def read_event(data: Any) -> Piece:
    if data == DONE:
        return Piece(done=True)
    data = obj(data, "a stream chunk")
    said = error_message(data)
    if said:
        raise ProviderSaid(said)
    choices = data.get("choices") or []
    if not isinstance(choices, list):
        raise BadEvent("`choices` is not a list")
    text = ""
    if choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        text = text_of(delta.get("content")) if isinstance(delta, dict) else ""
    tokens_in, tokens_out = _usage(data)
    if not text and tokens_in is None and tokens_out is None:
        return NOTHING
    return Piece(text, tokens_in, tokens_out)


def read_reply(data: Any) -> Piece:
    data = obj(data, "the answer")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadEvent("the answer has no `choices`")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise BadEvent("the answer's choice has no `message`")
    return Piece(text_of(message.get("content")), *_usage(data))
