"""A provider that answers anything: memory and time stay bounded, nothing crashes or leaks.

Every attack is served by the loopback server's hostile modes (forge_ipy.testing), or by a
real second process where processes matter (the cache lock's holder).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import httpx
import pytest

from forge_ipy import domain
from forge_ipy.cache import FILE_NAME, CacheEntry, CacheFile
from forge_ipy.catalog import Catalog
from forge_ipy.domain import MAX_ID_CHARS, MAX_MODELS_PER_PROVIDER, MAX_NAME_CHARS, Model
from forge_ipy.errors import ProviderError
from forge_ipy.providers import fetch as fetch_module
from forge_ipy.providers.body import ACCEPT_ENCODING, MAX_JSON_CONTAINERS, iter_body, read_body
from forge_ipy.providers.registry import display_root, logged_in, ollama_host
from forge_ipy.redact import redact
from forge_ipy.settings import cache_dir
from forge_ipy.testing import FakeModel, hostile_models, sample_models

# Shaped like a real project key (the `sk-proj-` prefix matters to redaction), but too short
# for secret scanners to take it for one.
KEY = "sk-proj-Zq8vN3xT7bW2mK9p"
UNSAFE = ("\x1b", "\x07", "\r", "\u202e")


@pytest.fixture
def catalog() -> Iterator[Catalog]:
    catalog = Catalog()
    yield catalog
    catalog.wait_background(timeout=10)


def status_of(listing, provider_id):
    status = listing.status(provider_id)
    assert status is not None, listing.providers
    return status


# -- memory: the size cap counts decoded bytes --------------------------------------------
class _Chunks(httpx.AsyncByteStream):
    """A response body that arrives over time, like the network's: never read in advance."""

    def __init__(self, data: bytes, size: int = 1024) -> None:
        self._data, self._size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._size):
            yield self._data[start:start + self._size]


def _decode(data: bytes, encoding: str, limit: int = 1 << 20) -> bytes:
    import asyncio

    response = httpx.Response(200, headers={"content-encoding": encoding}, stream=_Chunks(data))
    return asyncio.run(read_body(response, provider_id="p", limit=limit))


BODY = json.dumps({"data": [{"id": f"m{i}"} for i in range(500)]}).encode()


@pytest.mark.parametrize("encoding, encode", [
    ("", lambda b: b),
    ("identity", lambda b: b),
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
    ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
    ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
    ("GZIP , Deflate", lambda b: zlib.compress(gzip.compress(b))),
])
def test_every_encoding_and_stack_is_decoded(encoding, encode):
    assert _decode(encode(BODY), encoding) == BODY


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress),
    ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
    ("deflate", zlib.compress),
])
def test_the_cap_counts_decoded_bytes(encoding, encode):
    body = b" " * 200_000
    assert _decode(encode(body), encoding, limit=200_000) == body
    with pytest.raises(ProviderError) as raised:
        _decode(encode(body + b" "), encoding, limit=200_000)
    assert raised.value.kind == "too_large"
    assert "after decompression" in str(raised.value)


@pytest.mark.parametrize("encoding, kind", [
    ("br", "bad_response"), ("zstd", "bad_response"), ("gzip, \x1b[2Jx", "bad_response"),
    ("gzip, gzip, gzip, gzip, gzip", "bad_response"),
])
def test_an_encoding_not_asked_for_is_a_bad_response(encoding, kind):
    with pytest.raises(ProviderError) as raised:
        _decode(BODY, encoding)
    assert raised.value.kind == kind
    assert "\x1b" not in str(raised.value)
    assert "br" not in ACCEPT_ENCODING and "zstd" not in ACCEPT_ENCODING


def test_damaged_compression_is_a_bad_response():
    with pytest.raises(ProviderError) as raised:
        _decode(b"\x1f\x8b\x08\x00garbage" * 10, "gzip")
    assert raised.value.kind == "bad_response"


def test_decoded_pieces_are_bounded():
    import asyncio

    from forge_ipy.providers.body import PIECE_BYTES

    data = gzip.compress(b"\0" * (4 << 20))
    response = httpx.Response(200, headers={"content-encoding": "gzip"},
                              stream=_Chunks(data, size=len(data)))  # all in one raw chunk

    async def sizes() -> list[int]:
        return [len(p) async for p in iter_body(response, provider_id="p", limit=8 << 20)]

    pieces = asyncio.run(sizes())
    assert sum(pieces) == 4 << 20
    assert max(pieces) <= PIECE_BYTES


_BOMB_CLIENT = """
import json, resource, sys
from forge_ipy.catalog import get_all_models
listing = get_all_models(["openai"], refresh=True)
status = listing.status("openai")
print(json.dumps({"kind": status.error_kind, "error": status.error,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.parametrize("failure", ["gzip_bomb", "deflate_bomb"])
def test_a_compression_bomb_ends_as_too_large_in_bounded_memory(loopback, failure):
    from forge_ipy.testing import deflate_bomb, gzip_bomb

    bomb = gzip_bomb() if failure == "gzip_bomb" else deflate_bomb()
    assert len(bomb) < 16_000  # a few KB on the wire, 1 GiB decoded
    loopback.add("openai", failure=failure)
    env = {**os.environ, **loopback.env()}
    done = subprocess.run([sys.executable, "-c", _BOMB_CLIENT], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["kind"] == "too_large", outcome
    assert outcome["rss_kb"] < 300 * 1024, outcome  # far below the 1 GiB it decodes to


# -- memory: caps on models, ids and names -------------------------------------------------
def test_a_list_over_the_model_cap_is_refused_and_not_stored(loopback, serve, catalog):
    loopback.add("openai", failure=f"many_models:{MAX_MODELS_PER_PROVIDER + 5000}")
    loopback.add("groq")
    serve()

    listing = catalog.get_all_models(refresh=True)

    status = status_of(listing, "openai")
    assert status.error_kind == "too_large"
    assert f"{MAX_MODELS_PER_PROVIDER + 5000} models is over the cap of " \
           f"{MAX_MODELS_PER_PROVIDER}" in status.error
    assert status_of(listing, "groq").ok
    assert "openai" not in catalog.cache.entries()
    assert not any(m.provider_id == "openai" for m in listing)


def test_a_list_of_a_million_tiny_models_is_refused_before_parsing(loopback, serve, catalog):
    loopback.add("openai", failure="many_models:1400000")
    serve()

    status = status_of(catalog.get_all_models(refresh=True), "openai")

    assert status.error_kind == "too_large"
    assert f"over the cap of {MAX_JSON_CONTAINERS}" in status.error
    assert "openai" not in catalog.cache.entries()


EVERY_WIRE = ("openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "together",
              "ollama")


def test_odd_models_are_skipped_or_nulled_one_by_one(loopback, serve, catalog):
    for pid in EVERY_WIRE:
        loopback.add(pid, hostile_models())
    serve()

    listing = catalog.get_all_models(refresh=True)

    for pid in EVERY_WIRE:
        assert status_of(listing, pid).ok
        ids = [m.id for m in listing if m.provider_id == pid]
        # The lone surrogate and the 1 MB id are skipped; the duplicate is listed once.
        assert sorted(ids) == sorted(["sane-model", "huge-numbers",
                                      "evil\x1b[2J\x07\u202eexe.txt\nforged\tfield"]), pid
        by_id = {m.id: m for m in listing if m.provider_id == pid}
        assert by_id["huge-numbers"].context_length is None
        assert by_id["huge-numbers"].max_output_tokens is None
        assert by_id["huge-numbers"].input_price is None
        assert by_id["huge-numbers"].output_price is None
    sane = {m.provider_id: m for m in listing if m.id == "sane-model"}
    assert sane["openrouter"].context_length == 8192  # the first of the duplicates
    assert sane["openrouter"].input_price == pytest.approx(1.0)
    assert catalog.select("openai/sane-model").selection.full_name == "openai/sane-model"
    # What was stored is strict JSON that reads back the same.
    text = (cache_dir() / FILE_NAME).read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written to the cache"))
    assert len(CacheFile().read()["openai"].models) == 3


def test_a_name_over_its_cap_is_cut(loopback, serve, catalog):
    loopback.add("mistral", [FakeModel("long-name", name="n" * 100_000)])
    serve()

    [model] = catalog.get_all_models(refresh=True)

    assert len(model.name) == MAX_NAME_CHARS


@pytest.mark.parametrize("value", [10**400, -1, float("nan"), float("inf"), "12x", True,
                                   [1], {"a": 1}, 2**60, "9" * 5000])
def test_an_odd_number_nulls_its_field(value):
    model = Model(provider_id="p", id="m", context_length=value, created=value,
                  input_price=value, output_price=value, cache_read_price=value)
    assert model.context_length is None
    assert model.created is None
    assert model.input_price is None
    assert model.cache_read_price is None


@pytest.mark.parametrize("value", [None, "", 5, ["x"], "a" * (MAX_ID_CHARS + 1), "\ud800",
                                   "ok\udfffok"])
def test_an_unusable_id_refuses_the_model(value):
    with pytest.raises(ValueError):
        Model(provider_id="p", id=value)


def test_odd_text_and_types_null_their_field():
    model = Model(provider_id="p", id="m", name="\ud800", tools="yes", reasoning=1,
                  kind=["chat"], knowledge="x" * 1000, input_modalities=["text", 5, "\udc00"],
                  output_modalities="text")
    assert model.name == ""
    assert model.tools is None and model.reasoning is None and model.kind is None
    assert model.knowledge == "x" * domain.MAX_TEXT_CHARS
    assert model.input_modalities == ("text",)
    assert model.output_modalities == ()
    sane = Model(provider_id="p", id="m", context_length="128000", input_price="0.5")
    assert (sane.context_length, sane.input_price) == (128000, 0.5)


def test_a_damaged_cache_file_with_odd_values_still_serves(tmp_path):
    path = tmp_path / "models.json"
    row = {"id": "m", "name": "\ud800", "context_length": 10**400, "input_price": float("nan"),
           "tools": "maybe"}
    path.write_text(json.dumps({"schema": 2, "entries": {"openai": {
        "fingerprint": "f", "fetched_at": 1.0, "models": [row]}}}))

    [model] = CacheFile(path).read()["openai"].models

    assert (model.id, model.name, model.context_length, model.input_price, model.tools) == \
           ("m", "", None, None, None)


# -- time: the whole job stays within the limit ---------------------------------------------
def test_a_slow_drip_is_a_timeout_and_others_arrive(loopback, serve, catalog):
    loopback.add("openai", failure="drip")
    loopback.add("groq")
    serve()

    listing = catalog.get_all_models(refresh=True, settings={"provider_timeout_seconds": 2})

    assert status_of(listing, "openai").error_kind == "timeout"
    assert status_of(listing, "groq").ok


def test_deeply_nested_json_is_a_bad_response(loopback, serve, catalog):
    loopback.add("openai", failure="deep_json")
    serve()

    status = status_of(catalog.get_all_models(refresh=True), "openai")

    assert status.error_kind == "bad_response"
    assert "nested too deeply" in status.error


def test_parsing_and_storing_run_off_the_event_loop(loopback, serve, catalog, monkeypatch):
    loopback.add("openai", hostile_models())
    serve()
    threads: dict[str, set[str]] = {"parse": set(), "store": set()}
    parse_page, put = fetch_module._parse_page, catalog.cache.put

    def watched_parse(*args):
        threads["parse"].add(threading.current_thread().name)
        return parse_page(*args)

    def watched_put(entry):
        threads["store"].add(threading.current_thread().name)
        return put(entry)

    monkeypatch.setattr(fetch_module, "_parse_page", watched_parse)
    monkeypatch.setattr(catalog.cache, "put", watched_put)

    assert len(catalog.get_all_models(refresh=True)) == 3

    assert threads["parse"] and threads["store"]
    assert "forge-ipy-loop" not in threads["parse"] | threads["store"]


_LOCK_HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def lock_holder() -> Iterator[subprocess.Popen]:
    """Another process holding the cache file's lock."""
    lock = cache_dir() / (FILE_NAME + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.mark.parametrize("stopped", [False, True])
def test_a_held_cache_lock_skips_the_write_and_still_shows_every_list(
        loopback, serve, catalog, lock_holder, caplog, stopped):
    if stopped:
        lock_holder.send_signal(signal.SIGSTOP)
    loopback.add("openai", sample_models("openai", 5000))  # a big valid list
    loopback.add("groq", latency=0.5)  # arrives while the first list waits for the lock
    serve()

    with caplog.at_level(logging.WARNING, logger="forge_ipy"):
        listing = catalog.get_all_models(refresh=True,
                                         settings={"provider_timeout_seconds": 3})

    assert status_of(listing, "openai").ok
    assert status_of(listing, "groq").ok
    assert {m.provider_id for m in listing} == {"openai", "groq"}
    warnings = [r.message for r in caplog.records if "locked by another process" in r.message]
    assert len(warnings) == 1
    assert not (cache_dir() / FILE_NAME).exists()  # skipped, not half-written


# -- leaks and control characters ------------------------------------------------------------
def _forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"user:{secret}".encode()).decode(),
            base64.urlsafe_b64encode(f"Bearer {secret}".encode()).decode(),
            secret.removeprefix("sk-proj-")]


def test_redact_removes_every_form_of_a_secret():
    text = " | ".join(f"form {i}: {form}." for i, form in enumerate(_forms(KEY)))
    cleaned = redact(text, [KEY, None])
    for form in _forms(KEY):
        assert form not in cleaned
    assert cleaned.count("***") == len(_forms(KEY))
    assert redact("nothing secret here", [KEY]) == "nothing secret here"
    assert redact(f"[{KEY.lower()}] [{KEY.upper()[8:]}]", [KEY]) == "[***] [***]"  # any case


@pytest.mark.parametrize("failure", ["echo_key", "echo_key_header", "echo_key_type",
                                     "echo_key_encoding"])
def test_a_key_echoed_back_in_any_form_never_reaches_a_message(loopback, serve, catalog,
                                                               failure):
    loopback.add("openai", key=KEY, failure=failure)
    serve()

    status = status_of(catalog.get_all_models(refresh=True), "openai")

    assert status.error_kind in ("auth", "http", "bad_response")
    assert "***" in status.error
    for form in [*_forms(KEY)[:5], KEY.split("-")[-1]]:
        assert form not in status.error


def test_control_characters_in_an_error_are_made_visible(loopback, serve, catalog):
    loopback.add("openai", failure="control_error")
    serve()

    status = status_of(catalog.get_all_models(refresh=True), "openai")

    assert status.error_kind == "http"
    assert not any(char in status.error for char in UNSAFE)
    assert "\\x1b" in status.error and "\\u202e" in status.error


def test_a_password_in_the_api_root_is_never_shown(monkeypatch, catalog, closed_root):
    root = closed_root.replace("http://", "http://admin:s3cr3t-Pa55word@") + "/v1"
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", root)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    [access] = logged_in(("openai",))

    assert access.shown_root == display_root(root)
    assert "s3cr3t" not in access.shown_root and "admin" not in access.shown_root
    assert "s3cr3t" not in redact(f"echo {root}", access.secrets)
    done = subprocess.run([sys.executable, "-m", "forge_ipy", "providers"], capture_output=True,
                          text=True, env=dict(os.environ), timeout=60)
    assert done.returncode == 0, done.stderr
    assert access.shown_root in done.stdout and "s3cr3t" not in done.stdout + done.stderr


@pytest.mark.parametrize("root", ["http://u:pw@[::1", "http://u:pw@host:99999/v1"])
def test_an_unusable_root_with_a_password_is_shown_without_it(monkeypatch, root, with_client):
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", root)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    [access] = logged_in(("openai",))

    async def attempt(client):
        await fetch_module.fetch_models(client, access)

    with pytest.raises(ProviderError) as raised:
        with_client(attempt)
    assert raised.value.kind == "unreachable"
    assert ":pw@" not in str(raised.value)


@pytest.mark.parametrize("value, root", [
    ("0.0.0.0", "http://localhost:11434"),
    ("0.0.0.0:8080", "http://localhost:8080"),
    (":9000", "http://localhost:9000"),
    ("[::]:1234", "http://localhost:1234"),
    ("gpu.test", "http://gpu.test:11434"),
    ("https://gpu.test", "https://gpu.test"),
])
def test_ollama_host_is_read_as_ollama_reads_it(monkeypatch, value, root):
    assert ollama_host(value) == root
    monkeypatch.setenv("OLLAMA_HOST", value)
    [access] = logged_in(("ollama",))
    assert access.root == root


def test_a_stored_entry_keeps_finite_numbers_only():
    entry = CacheEntry("p", "f", 1.0, (Model(provider_id="p", id="m", input_price=math.nan),))
    assert entry.to_json()["models"][0]["input_price"] is None


@pytest.mark.parametrize("wire", ["openai", "anthropic", "openrouter", "together", "ollama",
                                  "azure", "bedrock", "gemini", "litellm"])
def test_items_without_a_usable_id_are_skipped_not_fatal(wire):
    from forge_ipy.providers.fetch import wire_module
    from forge_ipy.providers.wire import PageRequest

    junk = [{"id": 5}, "a string", None, 7, {"id": ""}, {"id": "x" * 10_000}, {"id": None},
            {"id": "good", "name": "model/good"}, {"id": {"nested": 1}}]
    payload = junk if wire == "together" else {"data": junk, "models": junk,
                                                "modelSummaries": junk}
    if wire == "ollama":
        junk[7] = {"name": "good", "model": "good"}
    if wire == "bedrock":
        junk[:] = [{"modelId": item["id"]} if isinstance(item, dict) else item for item in junk]
        junk[7]["outputModalities"] = ["TEXT", 5, None]
    if wire == "gemini":
        junk[:] = [{"name": item["id"]} if isinstance(item, dict) else item for item in junk]
        junk[7]["supportedGenerationMethods"] = ["generateContent"]

    page = wire_module(wire).parse_page("p", payload, PageRequest("/models"))

    assert [m.id for m in page.models] == ["good"]


def test_current_shows_the_root_without_its_password(loopback, monkeypatch, catalog):
    loopback.add("ollama")
    root = loopback.root("ollama").replace("http://", "http://admin:s3cr3t-Pa55word@")
    monkeypatch.setenv("FORGE_OLLAMA_BASE_URL", root)
    catalog.select("ollama/llama3.2:latest")

    now = catalog.current()

    assert now is not None and now.api_root == display_root(root)
    assert "s3cr3t" not in now.api_root and "admin" not in now.api_root


@pytest.mark.parametrize("declared", ["9" * 5000, str(1 << 40)])
def test_a_declared_length_over_the_cap_is_too_large(declared):
    import asyncio

    response = httpx.Response(200, headers={"content-length": declared}, stream=_Chunks(b"{}"))
    with pytest.raises(ProviderError) as raised:
        asyncio.run(read_body(response, provider_id="p", limit=1 << 20))
    assert raised.value.kind == "too_large"
    assert len(str(raised.value)) < 100


def test_an_integer_of_thousands_of_digits_nulls_its_field_not_the_answer():
    from forge_ipy.providers.body import parse_json

    body = b'{"data": [{"id": "m", "context_length": ' + b"9" * 5000 + b'}, {"id": "n"}]}'

    payload = parse_json(body, provider_id="p")

    assert payload["data"] == [{"id": "m", "context_length": None}, {"id": "n"}]
