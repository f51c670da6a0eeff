"""A loopback HTTP server that speaks every supported provider's wire shape.

For forge-ipy's own tests and benchmarks, for users' tests, and for the offline quickstart::

    from forge_ipy.testing import LoopbackProviders

    with LoopbackProviders.default() as server:   # every built-in provider, sample models
        os.environ.update(server.env())           # keys and FORGE_<ID>_BASE_URL roots
        ...
        server.requests                            # what each provider was asked, and when

Each provider can be given its models, a key it accepts, a latency per page, the page size it
really returns (whatever the client asks for), and a failure mode (see `FAILURES`). Azure
OpenAI checks its `api-key` header; Amazon Bedrock verifies each request's SigV4 signature
with the secret of its `AwsAccount`. `default()` leaves both out (`add("azure")` serves one).
`python -m forge_ipy.testing` serves the samples until interrupted and prints the variables.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import functools
import gzip
import hashlib
import hmac
import json
import re
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

# Modes of a hostile provider (section "Hostile answers" below): what an attacker, or a
# gateway gone wrong, may send. `many_models:N` streams an OpenAI-shaped list of N models.
HOSTILE_FAILURES = ("gzip_bomb", "deflate_bomb", "drip", "many_models:N", "deep_json",
                    "echo_key", "echo_key_header", "echo_key_type", "echo_key_encoding",
                    "control_error")
# What each built-in provider speaks; custom ids take a `wire` argument.
WIRES = {
    "openai": "openai", "deepseek": "openai", "xai": "openai", "fireworks": "fireworks",
    "cerebras": "openai", "groq": "groq", "mistral": "mistral", "anthropic": "anthropic",
    "gemini": "gemini", "openrouter": "openrouter", "together": "together", "ollama": "ollama",
    "azure": "azure", "bedrock": "bedrock",
}
KEY_VARS = {
    "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY", "groq": "GROQ_API_KEY", "mistral": "MISTRAL_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY", "xai": "XAI_API_KEY", "together": "TOGETHER_API_KEY",
    "fireworks": "FIREWORKS_API_KEY", "cerebras": "CEREBRAS_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
}
# status:NNN answers that status with a JSON error; the rest are named for what they send.
FAILURES = ("status:NNN", "html", "invalid_json", "bad_shape", "huge", "redirect", "hang",
            "reset", *HOSTILE_FAILURES)


@dataclass
class FakeModel:
    """A model as the test means it; the server renders it in each provider's shape."""

    id: str
    name: str | None = None
    context_length: int | None = None
    max_output_tokens: int | None = None
    tools: bool | None = None
    input_price: float | None = None  # USD per million tokens
    output_price: float | None = None
    chat: bool = True  # False: an embedding model (the same as kind="embedding")
    # What the model is, rendered in each provider's own fields (capabilities, modalities,
    # supports_*, type, methods...): one of forge_ipy.domain.MODEL_KINDS; None: chat.
    kind: str | None = None
    reasoning: bool | None = None
    vision: bool | None = None  # takes images
    status: str | None = None  # "deprecated" or "retired"
    cache_read_price: float | None = None
    # Set over the item as rendered: odd or hostile fields, exactly as a provider sends them.
    fields: dict[str, Any] | None = None

    @property
    def what(self) -> str:
        """The model's kind, `chat` unless said otherwise."""
        return self.kind or ("chat" if self.chat else "embedding")


@dataclass
class FakeProvider:
    provider_id: str
    wire: str
    models: list[FakeModel]
    key: str | None = None
    latency: float = 0.0
    page_size: int | None = None
    failure: str | None = None
    huge_bytes: int = 40 * 1024 * 1024
    hang_seconds: float = 30.0
    aws: AwsAccount | None = None  # the account whose signatures Bedrock accepts
    document: Any = None  # wire "document": what `/<id>/api.json` answers (see add_document)
    # Chat (see "Chat" below): a failure mode of CHAT_FAILURES, and a pause between pieces.
    chat_failure: str | None = None
    chat_delay: float = 0.0

    @property
    def path_prefix(self) -> str:
        return f"/{self.provider_id}"


@dataclass(frozen=True)
class RecordedRequest:
    provider_id: str
    path: str
    params: dict[str, str]
    auth_headers: tuple[str, ...]  # names of key-carrying headers present (never values)
    started: float
    ended: float  # when the answer began (after any latency), so records precede replies


_AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key",
                 "x-amz-security-token")


def sample_models(provider_id: str, count: int | None = None) -> list[FakeModel]:
    """A few realistic models for `provider_id`, or `count` synthetic ones for load tests."""
    if count is not None:
        # Like real lists: some models think, one in twenty is not a chat model.
        return [FakeModel(f"{provider_id}-model-{i:04d}", context_length=8192 * (1 + i % 16),
                          tools=i % 3 != 0, input_price=0.1 * (i % 7), output_price=0.3 * (i % 7),
                          reasoning=i % 4 == 0, kind="embedding" if i % 20 == 19 else None)
                for i in range(count)]
    return [FakeModel(**m) for m in _SAMPLES.get(provider_id, _SAMPLES["openai"])]


_SAMPLES: dict[str, list[dict[str, Any]]] = {
    "openai": [dict(id="gpt-4o", context_length=128000, tools=True),
               dict(id="gpt-4o-mini", context_length=128000, tools=True),
               dict(id="o3-mini", context_length=200000, tools=True)],
    "anthropic": [dict(id="claude-sonnet-4-5", name="Claude Sonnet 4.5", context_length=200000,
                       max_output_tokens=64000, reasoning=True, vision=True),
                  dict(id="claude-haiku-4-5", name="Claude Haiku 4.5", context_length=200000,
                       max_output_tokens=64000, reasoning=True, vision=True)],
    "gemini": [dict(id="gemini-2.5-pro", name="Gemini 2.5 Pro", context_length=1048576,
                    max_output_tokens=65536),
               dict(id="gemini-2.5-flash", name="Gemini 2.5 Flash", context_length=1048576,
                    max_output_tokens=65536),
               dict(id="text-embedding-004", chat=False)],
    "openrouter": [dict(id="openai/gpt-4o", name="OpenAI: GPT-4o", context_length=128000,
                        tools=True, input_price=2.5, output_price=10.0),
                   dict(id="meta-llama/llama-3.3-70b-instruct", context_length=131072,
                        tools=False, input_price=0.12, output_price=0.3)],
    "groq": [dict(id="llama-3.3-70b-versatile", context_length=131072, max_output_tokens=32768,
                  tools=True),
             dict(id="whisper-large-v3", context_length=448, max_output_tokens=448, kind="audio")],
    "mistral": [dict(id="mistral-large-latest", name="Mistral Large", context_length=131072,
                     tools=True)],
    "together": [dict(id="meta-llama/Llama-3.3-70B-Instruct-Turbo", context_length=131072,
                      input_price=0.88, output_price=0.88),
                 dict(id="BAAI/bge-large-en-v1.5", chat=False)],
    "ollama": [dict(id="llama3.2:latest", context_length=131072, tools=True),
               dict(id="qwen2.5-coder:7b", context_length=32768, tools=True)],
    "deepseek": [dict(id="deepseek-chat"), dict(id="deepseek-reasoner")],
    "xai": [dict(id="grok-4"), dict(id="grok-3-mini")],
    "fireworks": [dict(id="accounts/fireworks/models/llama-v3p1-70b-instruct",
                       context_length=131072, tools=True)],
    "cerebras": [dict(id="llama-3.3-70b"), dict(id="qwen-3-32b")],
}


class LoopbackProviders:
    """The server. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.providers: dict[str, FakeProvider] = {}
        self.requests: list[RecordedRequest] = []
        self.sink_requests: list[RecordedRequest] = []
        self.chat_bodies: list[dict[str, Any]] = []  # the JSON of each chat request, in order
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _make_server(host, self, sink=False)
        self._sink = _make_server(host, self, sink=True)
        self._threads: list[threading.Thread] = []

    @classmethod
    def default(cls, latency: float = 0.0) -> LoopbackProviders:
        """Every built-in provider with its sample models, started."""
        server = cls()
        for provider_id in WIRES:
            if provider_id not in ADDED_ON_REQUEST:
                server.add(provider_id, latency=latency)
        return server.start()

    # -- set up -------------------------------------------------------------------------
    def add(self, provider_id: str, models: list[FakeModel] | None = None, *,
            wire: str | None = None, key: str | None = "", **options: Any) -> FakeProvider:
        """Serve `provider_id`. `key=""` picks a test key; `key=None` accepts any."""
        wire = wire or WIRES.get(provider_id)
        if wire is None:
            raise ValueError(f"give wire= for custom provider {provider_id!r}")
        if wire in SIGNED_WIRES:
            options["aws"] = options.get("aws") or AwsAccount()
            key = options["aws"].access_key_id
        if key == "":
            key = None if wire == "ollama" else f"test-key-{provider_id}"
        provider = FakeProvider(provider_id, wire, list(models or sample_models(provider_id)),
                                key=key, **options)
        self.providers[provider_id] = provider
        return provider

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def sink_url(self) -> str:
        host, port = self._sink.server_address[:2]
        return f"http://{host}:{port}"

    def root(self, provider_id: str) -> str:
        """The API root to configure, like the `default root` column of DESIGN.md."""
        wire = self.providers[provider_id].wire
        suffix = {"gemini": "/v1beta", "ollama": "", "azure": "/openai/v1",
                  "bedrock": ""}.get(wire, "/v1")
        return f"{self.base_url}/{provider_id}{suffix}"

    def env(self) -> dict[str, str]:
        """Variables that point forge-ipy at this server: keys and API roots."""
        env = {}
        for pid, provider in self.providers.items():
            if provider.wire == "document":
                continue
            env[f"FORGE_{pid.upper().replace('-', '_')}_BASE_URL"] = self.root(pid)
            if provider.key and pid in KEY_VARS:
                env[KEY_VARS[pid]] = provider.key
            if provider.aws is not None:
                env.update(provider.aws.env())
        return env

    # -- run ----------------------------------------------------------------------------
    def start(self) -> LoopbackProviders:
        for server in (self._server, self._sink):
            thread = threading.Thread(target=server.serve_forever, daemon=True,
                                      kwargs={"poll_interval": 0.05})
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in (self._server, self._sink):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> LoopbackProviders:
        return self if self._threads else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened ------------------------------------------------------------------
    def requests_for(self, provider_id: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.provider_id == provider_id]

    def max_overlap(self) -> int:
        """The most requests that were being answered at the same moment."""
        with self._lock:
            events = sorted([(r.started, 1) for r in self.requests]
                            + [(r.ended, -1) for r in self.requests])
        current = best = 0
        for _, step in events:
            current += step
            best = max(best, current)
        return best

    def _record(self, request: RecordedRequest, sink: bool) -> None:
        with self._lock:
            (self.sink_requests if sink else self.requests).append(request)


class _Server(ThreadingHTTPServer):
    # Every provider is asked at once (and pages may follow): the default listen backlog of 5
    # would refuse some connections and make clients retry.
    request_queue_size = 128


def _make_server(host: str, owner: LoopbackProviders, sink: bool) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"owner": owner, "sink": sink})
    server = _Server((host, 0), handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackProviders
    sink: bool
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        _answer_chat(self)

    def do_GET(self) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        pid = split.path.split("/")[1] if split.path.count("/") >= 1 else ""
        auth = tuple(h for h in _AUTH_HEADERS if h in {k.lower() for k in self.headers})
        self._pending: tuple | None = (pid, split.path, params, auth, started)
        try:
            if self.sink:
                self._send_json(200, {"data": []})
            else:
                self._serve(self.owner.providers.get(pid), split.path, params)
        finally:
            self._record_pending()

    def send_response(self, code: int, message: str | None = None) -> None:
        # Record before the client can see a byte of the answer, so a test that has its
        # response in hand always finds the request in `requests`.
        self._record_pending()
        super().send_response(code, message)

    def _record_pending(self) -> None:
        pending, self._pending = getattr(self, "_pending", None), None
        if pending is not None:
            self.owner._record(RecordedRequest(*pending, time.monotonic()), self.sink)

    # -- answering ----------------------------------------------------------------------
    def _serve(self, provider: FakeProvider | None, path: str, params: dict[str, str]) -> None:
        if provider is None:
            return self._send_json(404, {"error": {"message": "no such provider"}})
        if provider.latency:
            self.owner._stopping.wait(provider.latency)
        if provider.failure and self._fail(provider):
            return None
        if provider.wire == "document":
            return self._send_document(provider, path)
        expected = {"gemini": "/v1beta/models", "ollama": "/api/tags",
                    "azure": "/openai/v1/models", "bedrock": "/foundation-models",
                    }.get(provider.wire, "/v1/models")
        if provider.wire == "litellm" and path == provider.path_prefix + "/model_group/info":
            if not self._authorised(provider, params):
                return self._refuse(provider)
            return self._send_json(200, _model_group_info(provider))
        if path != provider.path_prefix + expected:
            return self._send_json(404, {"error": {"message": f"unknown path {path}"}})
        if not self._authorised(provider, params):
            return self._refuse(provider)
        if provider.wire == "anthropic" and "anthropic-version" not in self.headers:
            return self._send_json(400, {"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "anthropic-version header is required"}})
        return self._send_json(200, _render(provider, params))

    def _authorised(self, provider: FakeProvider, params: dict[str, str]) -> bool:
        if provider.aws is not None:
            self._aws_refusal = sigv4_refusal(self.command, self.path, self.headers, b"",
                                              provider.aws)
            return self._aws_refusal is None
        if provider.key is None:
            return True
        bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        given = {  # Anthropic's newer SDKs send the key as a bearer token
            "azure": self.headers.get("api-key"),
            "anthropic": self.headers.get("x-api-key") or bearer,
            "gemini": self.headers.get("x-goog-api-key") or params.get("key"),
        }.get(provider.wire, bearer)
        return given == provider.key

    def _refuse(self, provider: FakeProvider) -> None:
        if provider.aws is not None:  # AWS: 403 and a bare message, as rest-json services say
            return self._send_json(403, {"message": self._aws_refusal})
        if provider.wire == "azure":
            return self._send_json(401, {"error": {"code": "401", "message": _AZURE_REFUSAL}})
        if provider.wire == "gemini":  # Gemini: a bad key is 400, not 401
            return self._send_json(400, {"error": {
                "code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}})
        if provider.provider_id == "xai":  # xAI answers 400 too
            return self._send_json(400, {"code": "Client specified an invalid argument",
                                         "error": "Incorrect API key provided: xa***. "
                                                  "Obtain an API key from https://console.x.ai."})
        if provider.wire == "anthropic":
            return self._send_json(401, {"type": "error", "error": {
                "type": "authentication_error", "message": "invalid x-api-key"}})
        return self._send_json(401, {"error": {"message": "Incorrect API key provided.",
                                               "type": "invalid_request_error",
                                               "code": "invalid_api_key"}})

    def _fail(self, provider: FakeProvider) -> bool:
        """Answer with the provider's failure mode; False when it lets the request through."""
        failure = provider.failure or ""
        if failure.startswith("status:"):
            status = int(failure.split(":", 1)[1])
            self._send_json(status, {"error": {"message": f"simulated status {status}"}})
        elif failure == "html":
            self._send(200, b"<html><body>Gateway login</body></html>", "text/html")
        elif failure == "invalid_json":
            self._send(200, b'{"data": [', "application/json")
        elif failure == "bad_shape":
            self._send_json(200, {"unexpected": True})
        elif failure == "huge":
            self._send_huge(provider.huge_bytes)
        elif failure == "redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.owner.sink_url}/v1/models")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif failure == "hang":
            self.owner._stopping.wait(provider.hang_seconds)
            self._send_json(200, {"data": []})
        elif failure == "reset":
            self.close_connection = True
            self.connection.close()
        else:
            return _HOSTILE.get(failure.split(":")[0], _not_hostile)(self, provider)
        return True

    def _send_document(self, provider: FakeProvider, path: str) -> None:
        if path != f"{provider.path_prefix}/api.json":
            return self._send_json(404, {"error": {"message": f"unknown path {path}"}})
        body = provider.document
        if isinstance(body, bytes):  # sent as it is: not JSON, NaN, nesting too deep, ...
            return self._send(200, body, "application/json")
        return self._send_json(200, body)

    def _send_huge(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()  # no Content-Length: the client must count as it reads
        chunk = b" " * 65536
        self.close_connection = True
        try:
            for _ in range(size // len(chunk) + 1):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client hung up once over its cap, as it should

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# -- Hostile answers ---------------------------------------------------------------------
# Kept apart from the honest server above. Each takes the handler and the provider and
# answers; all are in FAILURES. Bombs are built once per process and kept.
BOMB_DECODED_BYTES = 1 << 30  # what the bombs decode to: 1 GiB of zeros from a few KB


def _not_hostile(handler: _Handler, provider: FakeProvider) -> bool:
    return False


@functools.cache
def raw_deflate_zeros(size: int = BOMB_DECODED_BYTES) -> tuple[bytes, int]:
    """A raw deflate stream of `size` zero bytes (a multiple of 1 MiB) and its CRC-32, made
    in a second: one fully flushed 1 MiB block, repeated (each stands alone)."""
    mib = 1 << 20
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = squeeze.compress(b"\0" * mib) + squeeze.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zeros = b"\0" * mib
    for _ in range(size // mib):
        crc = zlib.crc32(zeros, crc)
    return block * (size // mib) + squeeze.flush(), crc


def gzip_zeros(size: int = BOMB_DECODED_BYTES) -> bytes:
    """A valid gzip member holding `size` zero bytes (about 1 MB per GiB)."""
    deflated, crc = raw_deflate_zeros(size)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflated + struct.pack("<II", crc, size & 0xFFFFFFFF)


@functools.cache
def gzip_bomb() -> bytes:
    """`Content-Encoding: gzip, gzip`: a few KB that decode to 1 GiB."""
    return gzip.compress(gzip_zeros(), 9)


@functools.cache
def deflate_bomb() -> bytes:
    """`Content-Encoding: deflate, deflate`: zlib-wrapped outside, raw deflate inside."""
    return zlib.compress(raw_deflate_zeros()[0], 9)


def hostile_models() -> list[FakeModel]:
    """Models with every odd value a provider may send: a 400-digit context length, NaN and
    infinite and negative prices, a lone surrogate, an id of 1 MB, control characters, ANSI
    escapes and a bidi override in ids and names, and a duplicate id. Two are sane."""
    return [
        FakeModel("sane-model", context_length=8192, input_price=1.0, output_price=2.0),
        FakeModel("huge-numbers", context_length=10**400, max_output_tokens=-5,
                  input_price=float("nan"), output_price=float("inf")),
        FakeModel("\ud800-lone-surrogate"),
        FakeModel("x" * (1 << 20)),
        FakeModel("evil\x1b[2J\x07\u202eexe.txt\nforged\tfield", name="\x1b]0;pwned\x07"),
        FakeModel("sane-model", context_length=1),  # a duplicate: the first one wins
    ]


def _send_encoded(handler: _Handler, body: bytes, encoding: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", encoding)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(OSError):
        handler.wfile.write(body)


def _gzip_bomb(handler: _Handler, provider: FakeProvider) -> bool:
    _send_encoded(handler, gzip_bomb(), "gzip, gzip")
    return True


def _deflate_bomb(handler: _Handler, provider: FakeProvider) -> bool:
    _send_encoded(handler, deflate_bomb(), "deflate, deflate")
    return True


def _drip(handler: _Handler, provider: FakeProvider) -> bool:
    """A valid answer, one byte a second: each read succeeds, the whole never arrives."""
    body = json.dumps({"data": [{"id": "slow"}]}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(OSError):
        for i in range(len(body)):
            handler.wfile.write(body[i:i + 1])
            handler.wfile.flush()
            if handler.owner._stopping.wait(1.0):
                return True
    return True


def _many_models(handler: _Handler, provider: FakeProvider) -> bool:
    """`many_models:N`: an OpenAI-shaped list of N tiny models, streamed as it is made."""
    count = int((provider.failure or "").split(":")[1])
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()  # no Content-Length: read until the server closes
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.wfile.write(b'{"object":"list","data":[')
        for start in range(0, count, 10_000):
            ids = range(start, min(count, start + 10_000))
            handler.wfile.write(",".join(f'{{"id":"m{i}"}}' for i in ids).encode()
                                + (b"," if start + 10_000 < count else b""))
        handler.wfile.write(b"]}")
    return True


def _deep_json(handler: _Handler, provider: FakeProvider) -> bool:
    depth = 100_000
    handler._send(200, b'{"data":' + b"[" * depth + b"]" * depth + b"}", "application/json")
    return True


def _echo_key(handler: _Handler, provider: FakeProvider) -> bool:
    """A 401 whose body quotes the key back in every form."""
    message = f"Incorrect API key provided: {_key_forms(_given_key(handler))}"
    handler._send_json(401, {"error": {"message": message}})
    return True


def _echo_key_header(handler: _Handler, provider: FakeProvider) -> bool:
    """A redirect whose Location header carries the key in every form."""
    handler.send_response(302)
    handler.send_header("Location", "https://elsewhere.test/login?"
                        + _key_forms(_given_key(handler)).replace(" ", "&k="))
    handler.send_header("Content-Length", "0")
    handler.end_headers()
    return True


def _echo_key_type(handler: _Handler, provider: FakeProvider) -> bool:
    """Not JSON, described by a Content-Type (and a Content-Encoding) holding the key."""
    key = _key_forms(_given_key(handler)).replace(" ", "-")
    handler.send_response(200)
    handler.send_header("Content-Type", f"text/{key}")
    handler.send_header("Content-Length", "5")
    handler.end_headers()
    handler.wfile.write(b"hello")
    return True


def _echo_key_encoding(handler: _Handler, provider: FakeProvider) -> bool:
    _send_encoded(handler, b"hello", f"x-{_key_forms(_given_key(handler)).replace(' ', '-')}")
    return True


def _key_forms(key: str) -> str:
    """The key raw, URL-encoded, in base64 alone and as Basic `user:key`, and its part after
    the prefix (`sk-proj-...`), separated by spaces."""
    return " ".join([key, quote(key, safe=""), base64.b64encode(key.encode()).decode(),
                     base64.b64encode(f"user:{key}".encode()).decode(), key.split("-")[-1]])


def _control_error(handler: _Handler, provider: FakeProvider) -> bool:
    handler._send_json(500, {"error": {"message": "\x1b[31mred\x1b[0m \u202eevil\rforged\x07"}})
    return True


def _given_key(handler: _Handler) -> str:
    return ((handler.headers.get("authorization") or "").removeprefix("Bearer ")
            or handler.headers.get("x-api-key") or handler.headers.get("x-goog-api-key") or "")


_HOSTILE = {"gzip_bomb": _gzip_bomb, "deflate_bomb": _deflate_bomb, "drip": _drip,
            "many_models": _many_models, "deep_json": _deep_json, "echo_key": _echo_key,
            "echo_key_header": _echo_key_header, "echo_key_type": _echo_key_type,
            "echo_key_encoding": _echo_key_encoding, "control_error": _control_error}


# -- documents beside the providers: a catalog of model facts -----------------------------
def add_document(server: LoopbackProviders, name: str, document: Any,
                 **options: Any) -> FakeProvider:
    """Serve `document` (JSON-able, or bytes sent as they are) at `document_url(server, name)`,
    like models.dev's `api.json`; `options` are a provider's (failure, latency, ...)."""
    return server.add(name, [], wire="document", key=None, document=document, **options)


def document_url(server: LoopbackProviders, name: str) -> str:
    return f"{server.base_url}/{name}/api.json"


def models_dev_document(models: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """A models.dev `api.json`: `{provider: {model id: fields}}` wrapped as models.dev does."""
    return {pid: {"id": pid, "name": pid, "env": [], "npm": "@ai-sdk/openai-compatible",
                  "doc": f"https://example.invalid/{pid}",
                  "models": {mid: {"id": mid, "name": mid, **fields}
                             for mid, fields in rows.items()}}
            for pid, rows in models.items()}


# -- the wire shapes ---------------------------------------------------------------------
def _render(provider: FakeProvider, params: dict[str, str]) -> Any:
    return _RENDERERS[provider.wire](provider, params)


def _window(provider: FakeProvider, start: int, asked: int | None) -> list[FakeModel]:
    size = min(x for x in (asked, provider.page_size, len(provider.models) or 1) if x)
    return provider.models[start:start + size]


def _index_after(models: list[FakeModel], model_id: str | None) -> int:
    ids = [m.id for m in models]
    return ids.index(model_id) + 1 if model_id in ids else 0


def _openai_item(provider: FakeProvider, m: FakeModel) -> dict[str, Any]:
    item: dict[str, Any] = {"id": m.id, "object": "model", "created": 1_700_000_000,
                            "owned_by": provider.provider_id}
    item.update(_EXTRA_FIELDS.get(provider.wire, lambda m: {})(m))
    return {**item, **(m.fields or {})}


def _modalities(m: FakeModel) -> tuple[list[str], list[str]]:
    """(input, output) modalities as providers write them for a model of `m`'s kind."""
    what = m.what
    inputs = ["text", "image"] if m.vision else ["text"]
    return {"audio": (["audio"], ["text"]) if "tts" not in m.id else (["text"], ["audio"]),
            "image": (inputs, ["image"]), "embedding": (inputs, ["embeddings"])
            }.get(what, (inputs, ["text"]))


def _groq_fields(m: FakeModel) -> dict[str, Any]:
    """Groq: the OpenAI shape, `context_window` and friends, and the listing format's fields
    (modalities, `supported_features`, per-token `pricing`) of newer answers."""
    inputs, outputs = _modalities(m)
    features = ["tools"] * bool(m.tools) + ["json_mode"] + ["reasoning"] * bool(m.reasoning)
    item: dict[str, Any] = {
        "active": m.status != "retired", "context_window": m.context_length,
        "public_apps": None, "max_completion_tokens": m.max_output_tokens,
        "context_length": m.context_length, "max_output_length": m.max_output_tokens,
        "input_modalities": inputs, "output_modalities": outputs,
        "supported_features": features}
    if m.input_price is not None:
        item["pricing"] = {"prompt": _per_token(m.input_price),
                           "completion": _per_token(m.output_price)}
        if m.cache_read_price is not None:
            item["pricing"]["input_cache_read"] = _per_token(m.cache_read_price)
    return item


_MISTRAL_FLAGS = {"chat": "completion_chat", "completion": "completion_fim", "other": "ocr",
                  "moderation": "moderation", "audio": "audio"}


def _mistral_fields(m: FakeModel) -> dict[str, Any]:
    """Mistral: `capabilities` flags (none set for an embedding model), `max_context_length`,
    `deprecation` (a date), aliases and a type."""
    flags = dict.fromkeys(("completion_chat", "completion_fim", "function_calling",
                           "fine_tuning", "vision", "ocr", "classification", "moderation",
                           "audio"), False)
    if m.what in _MISTRAL_FLAGS:
        flags[_MISTRAL_FLAGS[m.what]] = True
    flags.update(function_calling=bool(m.tools), vision=bool(m.vision),
                 classification=m.what == "moderation")
    deprecation = {"deprecated": "2099-12-31T12:00:00Z",
                   "retired": "2020-01-31T12:00:00Z"}.get(m.status or "")
    return {"capabilities": flags, "name": m.name or m.id, "description": f"{m.id}.",
            "max_context_length": m.context_length, "aliases": [f"{m.id}-2501"],
            "deprecation": deprecation, "deprecation_replacement_model": None,
            "default_model_temperature": 0.3, "type": "base"}


_FIREWORKS_KINDS = {"embedding": "EMBEDDING_MODEL", "image": "FLUMINA_BASE_MODEL"}


def _fireworks_fields(m: FakeModel) -> dict[str, Any]:
    """Fireworks: its `kind`, `supports_*` (its embedding models say `supports_chat: true`)
    and `context_length`."""
    return {"kind": _FIREWORKS_KINDS.get(m.what, "HF_BASE_MODEL"),
            "supports_chat": m.what in ("chat", "embedding"),
            "supports_image_input": bool(m.vision), "supports_tools": bool(m.tools),
            "context_length": m.context_length}


_EXTRA_FIELDS = {"groq": _groq_fields, "mistral": _mistral_fields,
                 "fireworks": _fireworks_fields}


def _render_openai(provider: FakeProvider, params: dict[str, str]) -> Any:
    if provider.page_size is None:
        return {"object": "list", "data": [_openai_item(provider, m) for m in provider.models]}
    start = _index_after(provider.models, params.get("after"))
    page = _window(provider, start, None)
    more = start + len(page) < len(provider.models)
    return {"object": "list", "data": [_openai_item(provider, m) for m in page],
            "has_more": more, "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None}


def _render_anthropic(provider: FakeProvider, params: dict[str, str]) -> Any:
    start = _index_after(provider.models, params.get("after_id"))
    page = _window(provider, start, int(params.get("limit", 20)))
    data = [{"type": "model", "id": m.id, "display_name": m.name or m.id,
             "created_at": "2025-05-14T00:00:00Z", "max_input_tokens": m.context_length,
             "max_tokens": m.max_output_tokens, "capabilities": _anthropic_capabilities(m),
             **({"lifecycle": {"stage": m.status}} if m.status else {}), **(m.fields or {})}
            for m in page]
    return {"data": data, "has_more": start + len(page) < len(provider.models),
            "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}


def _anthropic_capabilities(m: FakeModel) -> dict[str, Any]:
    def yes(flag: object) -> dict[str, bool]:
        return {"supported": bool(flag)}
    thinking = bool(m.reasoning)
    return {"batch": yes(True), "citations": yes(True), "code_execution": yes(thinking),
            "context_management": {**yes(thinking), "compact_20260112": yes(thinking)},
            "effort": {**yes(thinking), **{level: yes(thinking) for level in
                                           ("low", "medium", "high", "max")}},
            "image_input": yes(m.vision is not False), "pdf_input": yes(m.vision is not False),
            "structured_outputs": yes(True),
            "thinking": {**yes(thinking), "types": {"adaptive": yes(False),
                                                    "enabled": yes(thinking)}}}


_GEMINI_METHODS = {
    "chat": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
    "embedding": ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
    "image": ["predict"], "other": ["predictLongRunning"], "audio": ["bidiGenerateContent"],
}


def _render_gemini(provider: FakeProvider, params: dict[str, str]) -> Any:
    token = params.get("pageToken")
    start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    page = _window(provider, start, int(params.get("pageSize", 50)))
    data = []
    for m in page:
        item = {"name": f"models/{m.id}", "version": "001", "displayName": m.name or m.id,
                "description": f"{m.name or m.id}.", "inputTokenLimit": m.context_length,
                "outputTokenLimit": m.max_output_tokens,
                "supportedGenerationMethods": _GEMINI_METHODS.get(m.what, ["generateContent"])}
        if m.what == "chat":
            item.update(temperature=1, topP=0.95, topK=64, maxTemperature=2)
        if m.reasoning is not None:
            item["thinking"] = m.reasoning
        data.append({**item, **(m.fields or {})})
    payload: dict[str, Any] = {"models": data}
    if start + len(page) < len(provider.models):
        offset = str(start + len(page)).encode()
        payload["nextPageToken"] = base64.urlsafe_b64encode(offset).decode()
    return payload


def _per_token(price: float | None) -> str:
    return "-1" if price is None else f"{price / 1_000_000:.12f}"


def _render_openrouter(provider: FakeProvider, params: dict[str, str]) -> Any:
    data = []
    for m in provider.models:
        inputs, outputs = _modalities(m)
        pricing = {"prompt": _per_token(m.input_price), "completion": _per_token(m.output_price),
                   "request": "0", "image": "0", "web_search": "0", "internal_reasoning": "0"}
        if m.cache_read_price is not None:
            pricing["input_cache_read"] = _per_token(m.cache_read_price)
        data.append({
            "id": m.id, "canonical_slug": m.id, "hugging_face_id": "", "name": m.name or m.id,
            "created": 1_700_000_000, "description": f"{m.name or m.id}.",
            "context_length": m.context_length, "pricing": pricing,
            "architecture": {"modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}",
                             "input_modalities": inputs, "output_modalities": outputs,
                             "tokenizer": "Other", "instruct_type": None},
            "top_provider": {"context_length": m.context_length,
                             "max_completion_tokens": m.max_output_tokens,
                             "is_moderated": False},
            "per_request_limits": None,
            "supported_parameters": ["max_tokens", "temperature"]
            + ["tools", "tool_choice"] * bool(m.tools)
            + ["reasoning", "include_reasoning"] * bool(m.reasoning),
            "default_parameters": {},
            **({"expiration_date": "2099-12-31" if m.status == "deprecated" else "2020-01-31"}
               if m.status else {}),
            **(m.fields or {}),
        })
    return {"data": data}


_TOGETHER_TYPES = {"completion": "language", "other": "rerank"}


def _render_together(provider: FakeProvider, params: dict[str, str]) -> Any:
    return [{"id": m.id, "object": "model", "created": 1_700_000_000,
             "type": _TOGETHER_TYPES.get(m.what, m.what), "running": False,
             "display_name": m.name or m.id, "organization": "Meta", "link": "",
             "license": "", "context_length": m.context_length,
             "config": {"chat_template": None, "stop": ["<|eot_id|>"], "bos_token": None,
                        "eos_token": None},
             "pricing": {"input": m.input_price or 0, "output": m.output_price or 0,
                         "hourly": 0, "base": 0, "finetune": 0}, **(m.fields or {})}
            for m in provider.models]


_OLLAMA_CAPABILITIES = {"chat": ["completion"], "embedding": ["embedding"], "image": ["image"],
                        "completion": ["insert"]}


def _render_ollama(provider: FakeProvider, params: dict[str, str]) -> Any:
    models = []
    for m in provider.models:
        capabilities = list(_OLLAMA_CAPABILITIES.get(m.what, []))
        capabilities += ["tools"] * bool(m.tools) + ["vision"] * bool(m.vision) \
            + ["thinking"] * bool(m.reasoning)
        details = {"parent_model": "", "format": "gguf",
                   "family": "nomic-bert" if m.what == "embedding" else "llama",
                   "families": ["llama"], "parameter_size": "3.2B",
                   "quantization_level": "Q4_K_M"}
        if m.context_length:
            details["context_length"] = m.context_length
        models.append({"name": m.id, "model": m.id, "modified_at": "2025-01-01T00:00:00Z",
                       "size": 2_000_000_000, "digest": "0" * 64, "details": details,
                       "capabilities": capabilities, **(m.fields or {})})
    return {"models": models}


_LITELLM_MODES = {"image": "image_generation", "audio": "audio_transcription",
                  "other": "rerank", "moderation": "moderation"}


def _model_group_info(provider: FakeProvider) -> Any:
    """LiteLLM's `/model_group/info`: what the proxy knows of each model group."""
    return {"data": [{
        "model_group": m.id, "providers": ["openai"], "max_input_tokens": m.context_length,
        "max_output_tokens": m.max_output_tokens,
        "input_cost_per_token": None if m.input_price is None else m.input_price / 1e6,
        "output_cost_per_token": None if m.output_price is None else m.output_price / 1e6,
        "mode": _LITELLM_MODES.get(m.what, m.what), "tpm": None, "rpm": None,
        "supports_parallel_function_calling": bool(m.tools), "supports_vision": m.vision,
        "supports_function_calling": m.tools, "supports_reasoning": m.reasoning,
        "supports_web_search": False, "supported_openai_params": ["temperature", "max_tokens"],
        "configurable_clientside_auth_params": None} for m in provider.models]}


_RENDERERS = {"openai": _render_openai, "groq": _render_openai, "mistral": _render_openai,
              "fireworks": _render_openai, "litellm": _render_openai,
              "anthropic": _render_anthropic, "gemini": _render_gemini,
              "openrouter": _render_openrouter, "together": _render_together,
              "ollama": _render_ollama}


# -- providers that sign requests: Azure OpenAI's api-key, Amazon Bedrock's SigV4 ------------
SIGNED_WIRES = ("bedrock",)
# Served when added, left out of `default()` (and so of the demo): Azure needs a resource's
# endpoint, Bedrock the `[bedrock]` extra on the client's side.
ADDED_ON_REQUEST = ("azure", "bedrock")
_AZURE_REFUSAL = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                  "to provide a valid key for an active subscription and use a correct regional "
                  "API endpoint for your resource.")
_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method. Consult "
                       "the service documentation for details.")
_BAD_TOKEN = "The security token included in the request is invalid."
_MAX_SKEW_SECONDS = 15 * 60  # AWS refuses signatures older or newer than this


@dataclass(frozen=True)
class AwsAccount:
    """The AWS credentials Bedrock accepts, and the region it serves."""

    access_key_id: str = "AKIDLOOPBACKEXAMPLE1"
    secret_access_key: str = field(default="loopback/Secret+Key/EXAMPLE0123456789abcd",
                                   repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The AWS chain's variables for this account."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id,
               "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_REGION": self.region}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


def sigv4_refusal(method: str, raw_path: str, headers: Any, body: bytes, account: AwsAccount,
                  service: str = "bedrock", now: float | None = None) -> str | None:
    """Why AWS would refuse this request (its own words), or None when `account` signed it.

    A verifier written from the SigV4 specification, apart from the signer under test
    (botocore): canonical request, string to sign, the key derived from the secret.
    """
    scheme, _, fields_text = (headers.get("authorization") or "").partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return "Missing Authentication Token"
    fields = dict(part.strip().partition("=")[::2] for part in fields_text.split(","))
    scope = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "").split(";")
    stamp = headers.get("x-amz-date") or ""
    if len(scope) != 5 or scope[4] != "aws4_request" or "host" not in signed:
        return "Authorization header requires a valid Credential and SignedHeaders."
    key_id, day, region, scoped_service, _ = scope
    token = headers.get("x-amz-security-token")
    if key_id != account.access_key_id or token != account.session_token:
        return _BAD_TOKEN
    if region != account.region or scoped_service != service:
        return f"Credential should be scoped to a valid region and to service '{service}'."
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return "Authorization header requires existence of either a 'X-Amz-Date' header."
    if not stamp.startswith(day) or abs((now or time.time()) - signed_at) > _MAX_SKEW_SECONDS:
        return "Signature expired or not yet valid."
    split = urlsplit(raw_path)
    query = "&".join(sorted(split.query.split("&"))) if split.query else ""
    canonical_headers = "".join(f"{name}:{' '.join((headers.get(name) or '').split())}\n"
                                for name in signed)
    canonical = "\n".join((method, quote(split.path, safe="/~"), query, canonical_headers,
                           ";".join(signed), hashlib.sha256(body).hexdigest()))
    to_sign = "\n".join(("AWS4-HMAC-SHA256", stamp, "/".join(scope[1:]),
                         hashlib.sha256(canonical.encode()).hexdigest()))
    key = f"AWS4{account.secret_access_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, fields.get("Signature", "")) else \
        _SIGNATURE_MISMATCH


def _azure_kind(m: FakeModel) -> str:
    return m.kind or ("chat" if m.chat else "embedding")


def _render_azure(provider: FakeProvider, params: dict[str, str]) -> Any:
    """Azure's v1 `/models`: capabilities, lifecycle and deprecation dates (odd fields too)."""
    data = []
    for m in provider.models:
        kind = _azure_kind(m)
        data.append({
            "id": m.id, "object": "model", "created_at": 1_715_558_400, "status": "succeeded",
            "capabilities": {"fine_tune": False, "inference": True,
                             "completion": kind == "completion",
                             "chat_completion": kind == "chat",
                             "embeddings": kind == "embedding", "scale_types": ["standard"]},
            "lifecycle_status": "deprecating" if m.status else "generally-available",
            # Past for a retired model; years ahead otherwise, as Azure lists most models.
            "deprecation": {"inference": 1_709_284_527 if m.status == "retired" else 4_102_444_800,
                            "fine_tune": 1_677_662_127},
        })
    return {"object": "list", "data": data}


_BEDROCK_OUTPUTS = {"chat": ["TEXT"], "embedding": ["EMBEDDING"], "image": ["IMAGE"]}


def _render_bedrock(provider: FakeProvider, params: dict[str, str]) -> Any:
    """ListFoundationModels: `modelSummaries` as Bedrock sends them."""
    region = provider.aws.region if provider.aws else "us-east-1"
    summaries = []
    for m in provider.models:
        kind = _azure_kind(m)
        summaries.append({
            "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{m.id}",
            "modelId": m.id, "modelName": m.name or m.id,
            "providerName": m.id.split(".")[0].capitalize(),
            "inputModalities": ["TEXT", "IMAGE"] if kind == "chat" else ["TEXT"],
            "outputModalities": _BEDROCK_OUTPUTS.get(kind, ["TEXT"]),
            "responseStreamingSupported": kind == "chat",
            "customizationsSupported": [], "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "LEGACY" if m.status else "ACTIVE"},
        })
    return {"modelSummaries": summaries}


_RENDERERS.update(azure=_render_azure, bedrock=_render_bedrock)
_SAMPLES.update({
    "azure": [dict(id="gpt-4o"), dict(id="gpt-4o-mini"),
              dict(id="text-embedding-3-large", chat=False),
              dict(id="gpt-35-turbo-instruct", kind="completion"),
              dict(id="dall-e-3", kind="image"),
              dict(id="gpt-35-turbo-0301", status="retired")],
    "bedrock": [dict(id="anthropic.claude-3-5-sonnet-20240620-v1:0", name="Claude 3.5 Sonnet"),
                dict(id="amazon.nova-pro-v1:0", name="Nova Pro"),
                dict(id="meta.llama3-70b-instruct-v1:0", name="Llama 3 70B Instruct"),
                dict(id="anthropic.claude-v2:1", name="Claude", status="deprecated"),
                dict(id="amazon.titan-embed-text-v2:0", name="Titan Text Embeddings V2",
                     chat=False),
                dict(id="amazon.titan-image-generator-v2:0",
                     name="Titan Image Generator G1 v2", kind="image")],
})


# == Chat ================================================================================
# POST routes in each chat shape. The reply echoes the last user message ("You said: ...")
# so tests and the offline quickstart can assert it; tokens are counted as words (input: every
# message and the system prompt; output: the reply's words, plus Gemini's thinking tokens).
# Streams carry the odd fields real providers send: OpenAI's `usage: null` on every chunk and
# a last chunk with empty `choices`, OpenRouter's SSE comments, Anthropic's `ping`, Gemini's
# `thought` part and `usageMetadata` on every event, Ollama's durations.
CHAT_FAILURES = ("status:NNN", "rate_limit", "redirect", "hang", "malformed", "error_event",
                 "huge", "endless_line", "html", "gzip")
GEMINI_THOUGHT_TOKENS = 2
_CHAT_PATHS = {"anthropic": "/v1/messages", "ollama": "/api/chat",
               "azure": "/openai/v1/chat/completions"}  # by shape, or by wire (Azure's root)


def chat_shape(wire: str) -> str:
    return wire if wire in ("anthropic", "gemini", "ollama") else "openai"


def echo_reply(prompt: str) -> str:
    """What the loopback server answers to `prompt`."""
    return f"You said: {prompt}"


def _words(text: str) -> int:
    return len(text.split())


def _answer_chat(handler: _Handler) -> None:
    started = time.monotonic()
    split = urlsplit(handler.path)
    params = {k: v[-1] for k, v in parse_qs(split.query).items()}
    pid = split.path.split("/")[1] if split.path.count("/") >= 1 else ""
    auth = tuple(h for h in _AUTH_HEADERS if h in {k.lower() for k in handler.headers})
    handler._pending = (pid, split.path, params, auth, started)
    try:
        provider = handler.owner.providers.get(pid)
        body = _read_body(handler)
        if provider is None or body is None:
            return handler._send_json(404, {"error": {"message": "no such provider"}})
        shape, streamed, model = _chat_route(provider, split.path, body)
        if shape is None:
            return handler._send_json(404, {"error": {"message": f"unknown path {split.path}"}})
        if not handler._authorised(provider, params):
            return handler._refuse(provider)
        with handler.owner._lock:
            handler.owner.chat_bodies.append(body)
        if provider.chat_failure and _chat_fail(handler, provider, shape):
            return None
        prompt, words_in = _prompt(shape, body)
        reply = echo_reply(prompt)
        usage = (words_in, _words(reply))
        if not streamed:
            return handler._send_json(200, _WHOLE[shape](model, reply, usage))
        _send_stream(handler, provider, shape, _EVENTS[shape](provider, model, reply, usage))
    finally:
        handler._record_pending()


def _read_body(handler: _Handler) -> dict[str, Any] | None:
    length = int(handler.headers.get("content-length") or 0)
    try:
        body = json.loads(handler.rfile.read(min(length, 4 * 1024 * 1024)) or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _chat_route(provider: FakeProvider, path: str,
                body: dict[str, Any]) -> tuple[str | None, bool, str]:
    """The shape, whether streamed, and the model, for a request `path` of `provider`."""
    shape = chat_shape(provider.wire)
    rest = path.removeprefix(provider.path_prefix)
    if shape == "gemini" and rest.startswith("/v1beta/models/"):
        model, _, method = rest.removeprefix("/v1beta/models/").partition(":")
        if method in ("streamGenerateContent", "generateContent"):
            return shape, method == "streamGenerateContent", model
    if shape == "ollama" and rest == "/v1/chat/completions":  # Ollama's OpenAI-compatible API
        shape = "openai"
    elif rest != (_CHAT_PATHS.get(provider.wire) or _CHAT_PATHS.get(shape, "/v1/chat/completions")):
        return None, False, ""
    return shape, body.get("stream") is True, str(body.get("model", ""))


def _prompt(shape: str, body: dict[str, Any]) -> tuple[str, int]:
    """The last user message, and the words of every message and the system prompt."""
    if shape == "gemini":
        texts = [(c.get("role"), " ".join(p.get("text", "") for p in c.get("parts", [])))
                 for c in body.get("contents", [])]
        system = " ".join(p.get("text", "") for p in
                          (body.get("systemInstruction") or {}).get("parts", []))
    else:
        texts = [(m.get("role"), m.get("content") if isinstance(m.get("content"), str) else
                  " ".join(b.get("text", "") for b in m.get("content") or []))
                 for m in body.get("messages", [])]
        system = body.get("system") if isinstance(body.get("system"), str) else ""
    users = [text for role, text in texts if role == "user"]
    return (users[-1] if users else ""), sum(_words(t) for _, t in texts) + _words(system)


def _pieces(reply: str) -> list[str]:
    return re.findall(r"\S+\s*", reply) or [""]


def _openai_whole(model: str, reply: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": 1_700_000_000,
            "model": model, "system_fingerprint": "fp_loopback",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage), "prompt_tokens_details": {"cached_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}}}


def _openai_events(provider: FakeProvider, model: str, reply: str,
                   usage: tuple[int, int]) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        item = {"id": "chatcmpl-loopback", "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": model, "system_fingerprint": "fp_loopback",
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}], "usage": None, **extra}
        return b"data: " + json.dumps(item).encode() + b"\n\n"

    events = [b": OPENROUTER PROCESSING\n\n"] if provider.wire == "openrouter" else []
    events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    events += [chunk({"content": piece}) for piece in _pieces(reply)]
    events.append(chunk({}, "stop"))
    last = json.loads(chunk({})[6:])
    last.update(choices=[], usage=_openai_whole(model, reply, usage)["usage"])
    events.append(b"data: " + json.dumps(last).encode() + b"\n\n")
    return [*events, b"data: [DONE]\n\n"]


def _anthropic_whole(model: str, reply: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_events(provider: FakeProvider, model: str, reply: str,
                      usage: tuple[int, int]) -> list[bytes]:
    start = _anthropic_whole(model, "", (usage[0], 1))
    start["content"], start["stop_reason"] = [], None
    events = [_sse("message_start", {"type": "message_start", "message": start}),
              _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
              _sse("ping", {"type": "ping"})]
    events += [_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": piece}})
               for piece in _pieces(reply)]
    return [*events, _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                   "usage": {"output_tokens": usage[1]}}),
            _sse("message_stop", {"type": "message_stop"})]


def _gemini_item(model: str, parts: list[dict[str, Any]], usage: tuple[int, int],
                 done: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if done:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                              "totalTokenCount": sum(usage) + GEMINI_THOUGHT_TOKENS,
                              "thoughtsTokenCount": GEMINI_THOUGHT_TOKENS,
                              "promptTokensDetails": [{"modality": "TEXT",
                                                       "tokenCount": usage[0]}]},
            "modelVersion": model, "responseId": "loopback"}


def _gemini_whole(model: str, reply: str, usage: tuple[int, int]) -> dict[str, Any]:
    return _gemini_item(model, [{"text": reply}], usage, True)


def _gemini_events(provider: FakeProvider, model: str, reply: str,
                   usage: tuple[int, int]) -> list[bytes]:
    pieces = _pieces(reply)
    events = [_gemini_item(model, [{"text": "Considering the request.", "thought": True}],
                           (usage[0], 0), False)]
    events += [_gemini_item(model, [{"text": piece}], (usage[0], i + 1), i == len(pieces) - 1)
               for i, piece in enumerate(pieces)]
    events[-1]["usageMetadata"]["candidatesTokenCount"] = usage[1]
    return [b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events]


def _ollama_whole(model: str, reply: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {"model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": reply}, "done": True,
            "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 10_000,
            "prompt_eval_count": usage[0], "prompt_eval_duration": 10_000,
            "eval_count": usage[1], "eval_duration": 900_000}


def _ollama_events(provider: FakeProvider, model: str, reply: str,
                   usage: tuple[int, int]) -> list[bytes]:
    events = [json.dumps({"model": model, "created_at": "2025-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": piece}, "done": False})
              for piece in _pieces(reply)]
    events.append(json.dumps(_ollama_whole(model, "", usage)))
    return [e.encode() + b"\n" for e in events]


_WHOLE = {"openai": _openai_whole, "anthropic": _anthropic_whole, "gemini": _gemini_whole,
          "ollama": _ollama_whole}
_EVENTS = {"openai": _openai_events, "anthropic": _anthropic_events, "gemini": _gemini_events,
           "ollama": _ollama_events}


def _start_stream(handler: _Handler, shape: str, encoding: str | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/x-ndjson" if shape == "ollama"
                        else "text/event-stream; charset=utf-8")
    handler.send_header("Cache-Control", "no-cache")
    if encoding:
        handler.send_header("Content-Encoding", encoding)
    handler.end_headers()  # no length: the stream ends when the connection closes
    handler.close_connection = True


def _send_stream(handler: _Handler, provider: FakeProvider, shape: str,
                 events: list[bytes]) -> None:
    _start_stream(handler, shape)
    try:
        for event in events:
            handler.wfile.write(event)
            handler.wfile.flush()
            if provider.chat_delay:
                handler.owner._stopping.wait(provider.chat_delay)
    except OSError:
        pass  # the client stopped reading (interrupted, or over a cap)


def _chat_fail(handler: _Handler, provider: FakeProvider, shape: str) -> bool:
    """Answer with the provider's chat failure mode; False when it lets the request through."""
    failure = provider.chat_failure or ""
    events = _EVENTS[shape](provider, "m", echo_reply("first"), (1, 1))
    first = events[:next(i for i, e in enumerate(events) if b"You" in e) + 1]  # a first piece
    if failure.startswith("status:"):
        status = int(failure.split(":", 1)[1])
        handler._send_json(status, {"error": {"message": f"simulated status {status}",
                                              "type": "server_error"}})
    elif failure == "rate_limit":
        body = json.dumps({"error": {"message": "Rate limit reached for requests",
                                     "type": "requests", "code": "rate_limit_exceeded"}})
        handler._send(429, body.encode(), "application/json", {"retry-after": "7"})
    elif failure == "redirect":
        handler._send(307, b"", "text/plain",
                      {"Location": f"{handler.owner.sink_url}/v1/chat/completions"})
    elif failure == "html":
        handler._send(200, b"<html><body>Gateway login</body></html>", "text/html")
    else:
        return _chat_fail_in_stream(handler, provider, shape, failure, first)
    return True


def _chat_fail_in_stream(handler: _Handler, provider: FakeProvider, shape: str, failure: str,
                         first: list[bytes]) -> bool:
    """Failures that begin as a good stream: the first pieces arrive, then the trouble."""
    if failure not in ("hang", "malformed", "error_event", "huge", "endless_line", "gzip"):
        return False
    if failure == "gzip":  # a small body that would expand a thousandfold
        _start_stream(handler, shape, "gzip")
        handler.wfile.write(gzip.compress(b"data: " + b" " * (4 * 1024 * 1024)))
        return True
    _start_stream(handler, shape)
    try:
        for event in first:
            handler.wfile.write(event)
        handler.wfile.flush()
        if failure == "hang":
            handler.owner._stopping.wait(provider.hang_seconds)
        elif failure == "malformed":
            handler.wfile.write(b"data: {\"choices\": [\n\n" if shape != "ollama"
                                else b"{\"message\": \n")
        elif failure == "error_event":
            error = {"type": "error", "error": {"type": "overloaded_error",
                                               "message": "Overloaded"}}
            handler.wfile.write(_sse("error", error) if shape != "ollama" else
                                b'{"error": "model runner has unexpectedly stopped"}\n')
        elif failure == "huge":  # big pieces: the client's cap, not its parsing, ends it
            event = next(e for e in _EVENTS[shape](provider, "m", "y" * 250_000, (1, 1))
                         if b"yyyy" in e)
            for _ in range(provider.huge_bytes // len(event) + 1):
                handler.wfile.write(event)
        else:  # endless_line: one line that never ends
            chunk = b"x" * 65536
            handler.wfile.write(b"data: ")
            for _ in range(provider.huge_bytes // len(chunk) + 1):
                handler.wfile.write(chunk)
    except OSError:
        pass  # the client hung up once over its cap, as it should
    return True


def main() -> None:
    """Serve every provider's samples until Ctrl-C and print the variables to use them.

    The variables include a temporary config and cache folder, so trying the demo leaves the
    real selection and model cache alone.
    """
    import shlex
    import tempfile

    with LoopbackProviders.default() as server, tempfile.TemporaryDirectory(
            prefix="forge-ipy-demo-") as folder:
        env = {**server.env(), "FORGE_IPY_CONFIG_DIR": f"{folder}/config",
               "FORGE_IPY_CACHE_DIR": f"{folder}/cache", "FORGE_MODEL_FACTS_URL": "off"}
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        print(f"serving {len(server.providers)} demo providers at {server.base_url}; paste the "
              "lines above into another shell to use them; Ctrl-C to stop", file=sys.stderr,
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
