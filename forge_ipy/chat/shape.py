"""What every chat wire shape offers, and the pieces they share.

A chat shape knows one API: how to turn messages into a request (path, query, JSON body),
and how to read one event of a streamed answer, or a whole non-streamed answer, into a
`Piece`: some text and whatever token counts the event carries. It knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Message = dict[str, str]  # {"role": "user" | "assistant", "content": "..."}


class BadEvent(ValueError):
    """An event (or answer) that is JSON but not in the provider's shape."""


class ProviderSaid(Exception):
    """The provider reported an error inside a stream that had begun well."""


@dataclass(frozen=True)
class Options:
    """What the caller asked for beside the messages. `extra` goes where the shape keeps
    generation parameters, unchanged (e.g. `top_p`)."""

    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatRequest:
    path: str
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)
    framing: Literal["sse", "ndjson", "json"] = "sse"


@dataclass(frozen=True)
class Piece:
    """Text and token counts from one event; None where the event says nothing.
    `done` marks an event after which nothing more is expected ([DONE], message_stop)."""

    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    done: bool = False


NOTHING = Piece()


class ChatShape(Protocol):
    def build(self, provider_id: str, model_id: str, messages: list[Message],
              options: Options, stream: bool) -> ChatRequest: ...

    def read_event(self, data: Any) -> Piece: ...

    def read_reply(self, data: Any) -> Piece: ...


def generation(options: Options, max_tokens_key: str) -> dict[str, Any]:
    """The caller's generation parameters under the names a shape uses for them."""
    params = dict(options.extra)
    if options.max_tokens is not None:
        params[max_tokens_key] = options.max_tokens
    if options.temperature is not None:
        params["temperature"] = options.temperature
    return params


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent(f"expected a JSON object for {what}")
    return value


def count(value: Any) -> int | None:
    """A token count, or None when it is not a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def error_message(data: dict[str, Any]) -> str | None:
    """`{"error": {"message": ...}}` or `{"error": "..."}`, as every shape reports errors."""
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("type")
    return error if isinstance(error, str) and error else None
