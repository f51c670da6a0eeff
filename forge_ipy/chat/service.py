"""Sending a prompt to the chosen model: which model, which shape, and the reply as it comes.

The caller's thread resolves the model (the selection, or a name for this call only) and
builds the request; the package's event loop only sends it and reads the stream, handing
each piece across a thread-safe queue (sync callers) or to the caller's own loop (`achat`).
A non-streamed answer is parsed on the caller's side, never on the loop.
"""

from __future__ import annotations

import asyncio
import importlib
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..domain import Model, split_full_name
from ..errors import SelectionError, SettingError
from ..loop import BackgroundLoop, background_loop
from ..providers.registry import ProviderAccess, all_specs, is_logged_in, resolve
from ..settings import resolve_settings
from .reply import Reply, Usage, cost_of
from .shape import ChatShape, Message, Options, Piece
from .transport import Limits, exchange, parse

if TYPE_CHECKING:
    import concurrent.futures

    from ..catalog import Catalog

NO_SELECTION = ("no model selected; pick one with %forge_select or `forge-ipy select "
                "PROVIDER/MODEL`, or name one for this call, e.g. openai/gpt-4o")
_END = object()  # put on a queue after the last piece


@dataclass(frozen=True)
class Target:
    """The model a prompt goes to, and how to reach its provider. Never shown with its key."""

    access: ProviderAccess
    model_id: str
    info: Model | None  # the listing's facts (prices, kind) when known

    @property
    def full_name(self) -> str:
        return f"{self.access.id}/{self.model_id}"


def find_target(name: str | None = None, settings: Mapping[str, object] | None = None, *,
                chat_only: bool = True, catalog: Catalog | None = None) -> Target:
    """The named model, or the selected one; SelectionError with the fix when there is none,
    its provider is not logged in, or (with `chat_only`) it is not a chat model."""
    if catalog is None:
        from ..catalog import get_catalog

        catalog = get_catalog()
    if name and name.strip():
        info: Model | None = _cached(catalog, name.strip()) or catalog.resolve_name(name, settings)
        assert info is not None
        provider_id, model_id = info.provider_id, info.id
    else:
        current = catalog.current()
        if current is None:
            raise SelectionError(NO_SELECTION)
        provider_id, model_id, info = current.provider_id, current.model, current.info
    if chat_only:
        refuse_non_chat(provider_id, model_id, info)
    spec = all_specs().get(provider_id)
    if spec is None:
        raise SelectionError(f"provider {provider_id!r} of {provider_id}/{model_id} is not "
                             "known any more; pick another model")
    access = resolve(spec)
    if not is_logged_in(access):
        hint = spec.key_envs[0] if spec.key_envs else "its key"
        raise SelectionError(f"{provider_id} is not logged in; run `forge-ipy login "
                             f"{provider_id}` or set {hint}")
    return Target(access, model_id, info)


def _cached(catalog: Catalog, name: str) -> Model | None:
    """`provider/model` found in that provider's cached list, however old: a prompt should not
    wait for a listing to be built (or fetched) to learn a price it already has."""
    provider_id, model_id = split_full_name(name)
    spec = all_specs().get(provider_id) if provider_id else None
    if spec is None:
        return None
    return next((m for m in catalog.cached_models(resolve(spec)) if m.id == model_id), None)


def refuse_non_chat(provider_id: str, model_id: str, info: Model | None) -> None:
    """The one check that a model answers chat requests (unknown kinds are let through)."""
    if info is not None and info.kind not in (None, "chat"):
        article = "an" if info.kind[:1] in "aeiou" else "a"
        raise SelectionError(f"{provider_id}/{model_id} is {article} {info.kind} model, not a "
                             "chat model; pick a chat model (`forge-ipy models` lists them)")


def options_from(system: str | None, params: Mapping[str, Any]) -> Options:
    """`max_tokens` and `temperature` checked; other parameters go to the provider as given."""
    extra = dict(params)
    max_tokens, temperature = extra.pop("max_tokens", None), extra.pop("temperature", None)
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(
            max_tokens, int) or max_tokens < 1):
        raise SettingError(f"max_tokens = {max_tokens!r} must be a positive whole number")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(
            temperature, int | float) or not 0 <= temperature <= 2):
        raise SettingError(f"temperature = {temperature!r} must be a number from 0 to 2")
    return Options(system=system or None, max_tokens=max_tokens, temperature=temperature,
                   extra=extra)


def conversation(prompt: str, messages: list[Message] | None) -> list[Message]:
    """Earlier messages (`{"role": "user"|"assistant", "content": ...}`) and the prompt."""
    history = list(messages or ())
    for message in history:
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant") \
                or not isinstance(message.get("content"), str):
            raise SettingError("messages must be {'role': 'user' or 'assistant', 'content': "
                               "text} dicts; give the system prompt as system=")
    return [{"role": m["role"], "content": m["content"]} for m in history] + \
        [{"role": "user", "content": prompt}]


@dataclass
class Turn:
    """One prompt on its way: the request, and what has come back so far."""

    target: Target
    messages: list[Message]
    options: Options
    stream: bool
    limits: Limits
    parts: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    interrupted: bool = False

    @property
    def shape(self) -> ChatShape:
        return importlib.import_module(f"{__package__}.{self.target.access.spec.chat_wire}")  # type: ignore[return-value]

    async def send(self, deliver: Callable[[Any], None], loop: BackgroundLoop) -> bytes | None:
        """On the package's loop: send, and `deliver` each piece, then `_END` whatever
        happened."""
        shape = self.shape
        request = shape.build(self.target.access.id, self.target.model_id, self.messages,
                              self.options, self.stream)
        try:
            return await exchange(loop.client(), self.target.access, shape, request, deliver,
                                  self.limits)
        finally:
            deliver(_END)

    def take(self, piece: Piece) -> str:
        """Add a piece; returns its text. Later counts replace earlier ones (they are totals)."""
        if piece.input_tokens is not None or piece.output_tokens is not None:
            self.usage = Usage(
                piece.input_tokens if piece.input_tokens is not None else self.usage.input_tokens,
                piece.output_tokens if piece.output_tokens is not None
                else self.usage.output_tokens)
        if piece.text:
            self.parts.append(piece.text)
        return piece.text

    def answer(self, body: bytes | None) -> str:
        """The text of a non-streamed answer's body (parsed here, on the caller's side)."""
        return self.take(parse(self.target.access, self.shape.read_reply, body)) if body else ""

    @property
    def reply(self) -> Reply:
        info = self.target.info
        ended = self.ended if self.ended is not None else time.perf_counter()
        cost = cost_of(self.usage, info.input_price, info.output_price) if info else None
        return Reply("".join(self.parts), self.target.full_name, self.usage, cost,
                     ended - self.started, self.interrupted)


def prepare(prompt: str, *, model: str | None = None, system: str | None = None,
            messages: list[Message] | None = None, stream: bool = True,
            settings: Mapping[str, object] | None = None, **params: Any) -> Turn:
    """Everything before the network: the model, the messages, the options, the limits."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise SettingError("the prompt is empty; give the text to send")
    options, messages = options_from(system, params), conversation(prompt, messages)
    timeout = resolve_settings(settings).chat_timeout_seconds
    return Turn(find_target(model, settings), messages, options, stream, Limits(timeout=timeout))


class _Replies:
    """What the sync and async streams share: the turn, stopping it, and the reply."""

    turn: Turn
    _future: Any  # a concurrent or an asyncio future: both cancel and say if done

    def close(self) -> None:
        """Stop the stream, keeping what arrived (the reply is marked interrupted)."""
        if not self._future.done():
            self._future.cancel()
            self.turn.interrupted = True
        if self.turn.ended is None:
            self.turn.ended = time.perf_counter()

    @property
    def reply(self) -> Reply:
        return self.turn.reply


class ReplyStream(_Replies):
    """Text deltas as they arrive (iterate), then `.reply`. `close()` stops the stream and
    keeps what arrived, as an interrupted reply."""

    def __init__(self, turn: Turn, loop: BackgroundLoop | None = None) -> None:
        self.turn = turn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        loop = loop or background_loop()
        self._future: concurrent.futures.Future[bytes | None] = loop.submit(
            turn.send(self._queue.put, loop))

    def __iter__(self) -> Iterator[str]:
        try:
            while (item := self._queue.get()) is not _END:
                text = self.turn.take(item)
                if text:
                    yield text
            text = self.turn.answer(self._future.result())
            if text:
                yield text
        except BaseException:
            self.close()
            raise
        self.turn.ended = time.perf_counter()

    def wait(self) -> Reply:
        for _ in self:
            pass
        return self.reply


class AsyncReplyStream(_Replies):
    """`ReplyStream` for code with its own event loop: `async for delta in stream`."""

    def __init__(self, turn: Turn, loop: BackgroundLoop | None = None) -> None:
        self.turn = turn
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        own = asyncio.get_running_loop()
        loop = loop or background_loop()
        self._future = asyncio.wrap_future(loop.submit(turn.send(
            lambda item: own.call_soon_threadsafe(self._queue.put_nowait, item), loop)))

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            while (item := await self._queue.get()) is not _END:
                text = self.turn.take(item)
                if text:
                    yield text
            body = await self._future
            text = await asyncio.to_thread(self.turn.answer, body) if body else ""
            if text:
                yield text
        except BaseException:
            self.close()
            raise
        self.turn.ended = time.perf_counter()

    async def wait(self) -> Reply:
        async for _ in self:
            pass
        return self.reply


def chat(prompt: str, *, model: str | None = None, system: str | None = None,
         messages: list[Message] | None = None, stream: bool = False,
         **params: Any) -> Reply | ReplyStream:
    """Send `prompt` to the selected model (or `model`, for this call only) and return its
    `Reply`: `.text`, `.model`, `.usage`, `.cost` (USD or None), `.seconds`.

    Parameters
    ----------
    prompt : the user's message.
    model : `provider/model` (or a bare id one provider offers); default: the selection.
    system : a system prompt.
    messages : earlier turns, `{"role": "user" | "assistant", "content": text}` dicts.
    stream : True returns a `ReplyStream`: iterate it for text deltas, then read `.reply`.
    **params : `max_tokens`, `temperature`, and any other parameter the provider takes.
    """
    turn = prepare(prompt, model=model, system=system, messages=messages, stream=stream,
                   **params)
    replies = ReplyStream(turn)
    return replies if stream else replies.wait()


async def achat(prompt: str, *, model: str | None = None, system: str | None = None,
                messages: list[Message] | None = None, stream: bool = False,
                **params: Any) -> Reply | AsyncReplyStream:
    """`chat` for code that runs its own event loop; `stream=True` gives an async iterator."""
    turn = await asyncio.to_thread(prepare, prompt, model=model, system=system,
                                   messages=messages, stream=stream, **params)
    replies = AsyncReplyStream(turn)
    return replies if stream else await replies.wait()
