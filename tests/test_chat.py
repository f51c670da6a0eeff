"""Using the chosen model: each chat shape against the loopback server (streamed and whole,
usage, every failure kind, redirects, timeouts, interrupts), cost and footer arithmetic, the
Python API (`chat`, `achat`) and the SDK clients from `client()`."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading

import httpx
import pytest

import forge_ipy
from forge_ipy.chat import Reply, Usage
from forge_ipy.chat.reply import cost_of, format_cost
from forge_ipy.chat.service import NO_SELECTION, Target, find_target
from forge_ipy.chat.transport import retry_after
from forge_ipy.domain import Model, Selection
from forge_ipy.errors import ForgeError, ProviderError, RateLimitError, SelectionError
from forge_ipy.providers.registry import BUILTINS, all_specs
from forge_ipy.selection import CurrentModel
from forge_ipy.state import load_state
from forge_ipy.testing import GEMINI_THOUGHT_TOKENS, FakeModel, LoopbackProviders, echo_reply

PROMPT = "hello there"
# One model per chat shape, and OpenAI-shaped providers with their own quirks.
MODELS = {
    "openai/gpt-4o": "openai", "anthropic/claude-haiku-4-5": "anthropic",
    "gemini/gemini-2.5-flash": "gemini", "ollama/llama3.2:latest": "ollama",
    "openrouter/openai/gpt-4o": "openai", "groq/llama-3.3-70b-versatile": "openai",
    "together/meta-llama/Llama-3.3-70B-Instruct-Turbo": "openai",
}


@pytest.fixture
def served(loopback: LoopbackProviders, serve) -> LoopbackProviders:
    for pid in ("openai", "anthropic", "gemini", "ollama", "openrouter", "groq", "together"):
        loopback.add(pid)
    return serve()


def expected_usage(full_name: str, prompt: str = PROMPT, system: str = "") -> Usage:
    """Words in, words out: how the loopback server counts; Gemini bills thinking as output."""
    words_out = len(echo_reply(prompt).split())
    extra = GEMINI_THOUGHT_TOKENS if full_name.startswith("gemini/") else 0
    return Usage(len(prompt.split()) + len(system.split()), words_out + extra)


# -- every shape, streamed and whole ---------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_shape_answers_with_text_and_usage(served, name, stream):
    result = forge_ipy.chat(PROMPT, model=name, system="be brief", stream=stream)
    if stream:
        deltas = list(result)
        assert len(deltas) > 1  # it really streamed, piece by piece
        assert "".join(deltas) == echo_reply(PROMPT)
        result = result.reply
    assert isinstance(result, Reply)
    assert result.text == echo_reply(PROMPT)
    assert result.model == name
    assert result.usage == expected_usage(name, system="be brief")
    assert result.seconds > 0 and not result.interrupted


def test_requests_take_each_shapes_form(served):
    for name in ("openai/gpt-4o", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash",
                 "ollama/llama3.2:latest", "groq/llama-3.3-70b-versatile"):
        forge_ipy.chat(PROMPT, model=name, system="sys", stream=True, max_tokens=50,
                       temperature=0.2).wait()
    openai, anthropic, gemini, ollama, groq = served.chat_bodies
    assert openai["stream_options"] == {"include_usage": True}
    assert openai["messages"][0] == {"role": "system", "content": "sys"}
    assert openai["max_completion_tokens"] == 50 and groq["max_tokens"] == 50
    assert anthropic["system"] == "sys" and anthropic["max_tokens"] == 50
    assert anthropic["messages"] == [{"role": "user", "content": PROMPT}]
    assert gemini["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert gemini["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2}
    assert ollama["options"] == {"num_predict": 50, "temperature": 0.2}
    assert {r.path for r in served.requests_for("gemini")} >= {
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"}


def test_anthropic_gets_a_max_tokens_when_none_is_given(served):
    forge_ipy.chat(PROMPT, model="anthropic/claude-haiku-4-5")
    assert served.chat_bodies[-1]["max_tokens"] == 4096


def test_earlier_messages_go_before_the_prompt(served):
    earlier = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]
    reply = forge_ipy.chat("three", model="gemini/gemini-2.5-flash", messages=earlier)
    assert reply.text == echo_reply("three")
    assert [c["role"] for c in served.chat_bodies[-1]["contents"]] == ["user", "model", "user"]


def test_the_key_goes_only_to_the_providers_own_root(served):
    forge_ipy.chat(PROMPT, model="openai/gpt-4o")
    forge_ipy.chat(PROMPT, model="anthropic/claude-haiku-4-5")
    forge_ipy.chat(PROMPT, model="gemini/gemini-2.5-flash")
    posts = {r.provider_id: r.auth_headers for r in served.requests if "/models" not in r.path
             or ":" in r.path}
    assert posts["openai"] == ("authorization",)
    assert posts["anthropic"] == ("x-api-key",)
    assert posts["gemini"] == ("x-goog-api-key",)
    assert served.sink_requests == []


# -- the selection, a name for one call, non-chat models -------------------------------
def test_without_a_name_the_selection_is_used_and_a_name_does_not_change_it(served):
    with pytest.raises(SelectionError, match=r"no model selected.*%forge_select"):
        forge_ipy.chat(PROMPT)
    forge_ipy.select("anthropic/claude-haiku-4-5")
    assert forge_ipy.chat(PROMPT).model == "anthropic/claude-haiku-4-5"
    assert forge_ipy.chat(PROMPT, model="openai/gpt-4o").model == "openai/gpt-4o"
    assert load_state().selection == Selection(provider_id="anthropic", model="claude-haiku-4-5")


class _Catalog:
    """A catalog whose selection is an embedding model."""

    def current(self) -> CurrentModel:
        info = Model(provider_id="gemini", id="text-embedding-004", kind="embedding")
        return CurrentModel("gemini", "Google Gemini", "text-embedding-004", None, info)


def test_a_model_that_is_not_a_chat_model_is_refused(served):
    with pytest.raises(SelectionError, match="embedding model, not a chat model"):
        find_target(catalog=_Catalog())  # type: ignore[arg-type]
    # client() is for every kind: an SDK can embed
    target = find_target(catalog=_Catalog(), chat_only=False)  # type: ignore[arg-type]
    assert isinstance(target, Target) and target.full_name == "gemini/text-embedding-004"


def test_bad_parameters_are_one_line_errors(served):
    with pytest.raises(ForgeError, match="max_tokens = 0 must be a positive whole number"):
        forge_ipy.chat(PROMPT, model="openai/gpt-4o", max_tokens=0)
    with pytest.raises(ForgeError, match="temperature = 'hot'"):
        forge_ipy.chat(PROMPT, model="openai/gpt-4o", temperature="hot")
    with pytest.raises(ForgeError, match="the prompt is empty"):
        forge_ipy.chat("  ", model="openai/gpt-4o")
    with pytest.raises(ForgeError, match="messages must be"):
        forge_ipy.chat(PROMPT, model="openai/gpt-4o", messages=[{"role": "system"}])
    assert served.chat_bodies == []


# -- failures: one line each, never the key --------------------------------------------
def chat_failing(loopback: LoopbackProviders, serve, failure: str, name: str = "openai/gpt-4o",
                 **options: object) -> ProviderError:
    provider = loopback.providers[name.split("/")[0]]
    provider.chat_failure = failure
    for key, value in options.items():
        setattr(provider, key, value)
    with pytest.raises(ProviderError) as raised:
        forge_ipy.chat(PROMPT, model=name, stream=True).wait()
    message = str(raised.value)
    assert "\n" not in message and (provider.key or "\0") not in message
    return raised.value


@pytest.mark.parametrize(("failure", "kind", "words"), [
    ("status:500", "http", "HTTP 500: simulated status 500"),
    ("status:403", "auth", "HTTP 403: simulated status 403; check the key ("),
    ("redirect", "http", "redirect to"),
    ("html", "bad_response", "a web page"),
    ("malformed", "bad_response", "unexpected answer"),
    ("error_event", "http", "the provider stopped with an error: "),
    ("huge", "too_large", "byte cap"),
    ("endless_line", "too_large", "a line of the answer"),
    ("gzip", "bad_response", "compressed (gzip)"),
])
@pytest.mark.parametrize("name", ["openai/gpt-4o", "anthropic/claude-haiku-4-5",
                                  "gemini/gemini-2.5-flash", "ollama/llama3.2:latest"])
def test_each_failure_has_its_kind(served, serve, name, failure, kind, words):
    error = chat_failing(served, serve, failure, name)
    assert error.kind == kind and error.provider_id == name.split("/")[0]
    assert words in str(error)
    assert served.sink_requests == []  # a redirect is never followed


def test_a_key_changed_since_the_pick_is_auth_and_never_quoted(served, monkeypatch):
    forge_ipy.select("anthropic/claude-haiku-4-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong-secret-key")
    with pytest.raises(ProviderError) as raised:
        forge_ipy.chat(PROMPT)
    assert raised.value.kind == "auth" and "sk-wrong-secret-key" not in str(raised.value)
    assert str(raised.value) == ("HTTP 401: invalid x-api-key; check the key "
                                 "(env:ANTHROPIC_API_KEY)")


def test_429_is_rate_limited_with_the_wait_the_provider_asks(served, serve):
    error = chat_failing(served, serve, "rate_limit", "anthropic/claude-haiku-4-5")
    assert isinstance(error, RateLimitError)
    assert error.kind == "rate_limited" and error.retry_after == 7
    assert "rate limited (Rate limit reached for requests); the provider asks to wait 7 s" \
        in str(error)


def test_retry_after_reads_milliseconds_seconds_and_dates():
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "20"})) == 20
    date = "Wed, 21 Oct 2026 07:28:30 GMT"
    assert retry_after(httpx.Headers({"retry-after": date}), now=1792567700.0) == 10
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_a_reply_slower_than_chat_timeout_seconds_times_out(served, serve, monkeypatch):
    monkeypatch.setenv("FORGE_CHAT_TIMEOUT_SECONDS", "0.5")
    error = chat_failing(served, serve, "hang", "ollama/llama3.2:latest")
    assert error.kind == "timeout" and "within 0.5 s" in str(error)


def test_an_unreachable_root_is_unreachable(served, monkeypatch, closed_root):
    forge_ipy.select("anthropic/claude-haiku-4-5")
    monkeypatch.setenv("FORGE_ANTHROPIC_BASE_URL", closed_root + "/v1")
    with pytest.raises(ProviderError) as raised:
        forge_ipy.chat(PROMPT, stream=True).wait()
    assert raised.value.kind == "unreachable" and "cannot reach 127.0.0.1" in str(raised.value)


# -- interrupts ------------------------------------------------------------------------
def test_closing_a_stream_keeps_what_arrived(served):
    served.providers["openai"].chat_failure = "hang"
    replies = forge_ipy.chat(PROMPT, model="openai/gpt-4o", stream=True)
    first = next(iter(replies))
    replies.close()
    assert replies.reply.interrupted and replies.reply.text == first
    assert "interrupted" in replies.reply.footer()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_stream_and_keeps_what_arrived(served):
    served.providers["anthropic"].chat_failure = "hang"
    replies = forge_ipy.chat(PROMPT, model="anthropic/claude-haiku-4-5", stream=True)
    received: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        for delta in replies:
            received.append(delta)
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
    assert replies.reply.interrupted and replies.reply.text == "".join(received)
    assert received  # the first piece arrived before the hang


# -- cost and the footer ---------------------------------------------------------------
def test_cost_is_tokens_times_price_per_million(served):
    reply = forge_ipy.chat(PROMPT, model="openrouter/openai/gpt-4o")  # $2.5 in, $10 out
    usage = expected_usage("openrouter/openai/gpt-4o")
    assert reply.cost == pytest.approx((usage.input_tokens * 2.5 + usage.output_tokens * 10) / 1e6)
    assert f"· {format_cost(reply.cost)} ·" in reply.footer()
    catalogued = forge_ipy.chat(PROMPT, model="openai/gpt-4o")  # prices from the catalog
    assert catalogued.cost is not None and catalogued.cost > 0
    unpriced = forge_ipy.chat(PROMPT, model="ollama/llama3.2:latest")  # a local model
    assert unpriced.cost is None and "$" not in unpriced.footer()


def test_cost_arithmetic_and_the_footer():
    assert cost_of(Usage(1000, 500), 3.0, 15.0) == pytest.approx(0.0105)
    assert cost_of(Usage(1000, None), 3.0, 15.0) is None
    assert cost_of(Usage(1000, 500), None, 15.0) is None
    assert cost_of(Usage(0, 0), 0.0, 0.0) == 0
    assert [format_cost(c) for c in (0.0012, 1.23, 0.000041, 0)] == \
        ["$0.0012", "$1.2300", "$0.000041", "$0.0000"]
    reply = Reply("hi", "openai/gpt-4o", Usage(1234, 56), 0.0012, 1.44)
    assert reply.footer() == "openai/gpt-4o · 1,234 in · 56 out · $0.0012 · 1.4 s"
    assert Reply("", "x/y", Usage(), None, 0.05).footer() == "x/y · ? in · ? out · 0.1 s"


def test_a_reply_shows_as_markdown_with_the_footer_and_no_live_html():
    reply = Reply("**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1))\n```\n<b>\n```",
                  "openai/gpt_4o", Usage(1, 2), None, 0.5)
    markdown = reply._repr_markdown_()
    assert markdown.startswith("**bold** &lt;img src=x onerror=alert(1)>")
    assert "javascript:" not in markdown and "```\n<b>\n```" in markdown
    assert markdown.endswith("---\nopenai/gpt\\_4o · 1 in · 2 out · 0\\.5 s")
    assert str(reply) == reply.text


# -- async -----------------------------------------------------------------------------
def test_achat_runs_on_the_callers_loop(served):
    async def main() -> tuple[Reply, list[str], Reply]:
        whole = await forge_ipy.achat(PROMPT, model="gemini/gemini-2.5-flash")
        replies = await forge_ipy.achat(PROMPT, model="ollama/llama3.2:latest", stream=True)
        deltas = [delta async for delta in replies]
        return whole, deltas, replies.reply

    whole, deltas, streamed = asyncio.run(main())
    assert whole.text == echo_reply(PROMPT) == "".join(deltas) == streamed.text
    assert streamed.usage == expected_usage("ollama/llama3.2:latest")


# -- the provider table and the SDK clients --------------------------------------------
def test_the_provider_table_names_each_chat_shape(monkeypatch, tmp_path):
    shapes = {spec.id: spec.chat_wire for spec in BUILTINS}
    assert shapes["anthropic"] == "anthropic" and shapes["gemini"] == "gemini"
    assert shapes["ollama"] == "ollama"
    assert {shapes[p] for p in ("openai", "openrouter", "groq", "mistral", "deepseek", "xai",
                                "together", "fireworks", "cerebras")} == {"openai"}
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(
        '[providers.claude-proxy]\nkind = "anthropic"\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[providers.vllm]\nbase_url = "http://127.0.0.1:9/v1"\n')
    specs = all_specs()
    assert specs["claude-proxy"].chat_wire == "anthropic" and specs["vllm"].chat_wire == "openai"


@pytest.mark.parametrize(("name", "sdk_type"), [
    ("openai/gpt-4o", "openai.OpenAI"), ("groq/llama-3.3-70b-versatile", "openai.OpenAI"),
    ("anthropic/claude-haiku-4-5", "anthropic.Anthropic"),
    ("gemini/gemini-2.5-flash", "google.genai.client.Client"),
    ("ollama/llama3.2:latest", "openai.OpenAI"),
])
def test_client_is_the_official_sdk_pointed_at_the_provider(served, name, sdk_type):
    client = forge_ipy.client(name)
    assert f"{type(client).__module__}.{type(client).__name__}".replace(
        "openai._client", "openai").replace("anthropic._client", "anthropic") == sdk_type
    model = name.partition("/")[2]
    if sdk_type == "openai.OpenAI":
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}])
        text = answer.choices[0].message.content
    elif sdk_type == "anthropic.Anthropic":
        text = client.messages.create(model=model, max_tokens=100, messages=[
            {"role": "user", "content": PROMPT}]).content[0].text
    else:
        text = client.models.generate_content(model=model, contents=PROMPT).text
    assert text == echo_reply(PROMPT)


def test_client_without_a_name_uses_the_selection(served):
    forge_ipy.select("anthropic/claude-haiku-4-5")
    assert type(forge_ipy.client()).__name__ == "Anthropic"


def test_a_missing_sdk_is_one_line_with_the_pip_command(served, monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ForgeError, match=r"pip install 'forge-ipy\[anthropic\]'"):
        forge_ipy.client("anthropic/claude-haiku-4-5")


def test_client_with_no_selection_says_how_to_pick(served):
    with pytest.raises(SelectionError) as raised:
        forge_ipy.client()
    assert str(raised.value) == NO_SELECTION


def test_forge_ipy_chat_is_callable_as_the_module_and_the_function(served):
    import forge_ipy.chat as package

    assert package is forge_ipy.chat
    assert forge_ipy.chat(PROMPT, model="openai/gpt-4o").text == \
        package.chat(PROMPT, model="openai/gpt-4o").text


# -- forge-ipy chat --------------------------------------------------------------------
def cli(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    from forge_ipy.cli import main

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(["chat", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_chat_prompt_from_the_argument_reply_to_stdout_footer_to_stderr(served, capsys,
                                                                            monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "anthropic/claude-haiku-4-5", "what", "now?")
    assert code == 0
    assert out == echo_reply("what now?") + "\n"
    assert err.startswith("anthropic/claude-haiku-4-5 · 2 in · 4 out · ") and err.count("\n") == 1


def test_cli_chat_prompt_from_stdin_with_the_selection(served, capsys, monkeypatch):
    forge_ipy.select("gemini/gemini-2.5-flash")
    code, out, err = cli(capsys, monkeypatch, "--max-tokens", "9", stdin="question.md says hi\n")
    assert code == 0 and out == echo_reply("question.md says hi\n") + "\n"
    assert err.startswith("gemini/gemini-2.5-flash · ")
    assert served.chat_bodies[-1]["generationConfig"] == {"maxOutputTokens": 9}


def test_cli_chat_one_word_that_is_not_a_model_is_the_prompt(served, capsys, monkeypatch):
    forge_ipy.select("openai/gpt-4o")
    code, out, _ = cli(capsys, monkeypatch, "hello/world")  # no provider `hello`
    assert code == 0 and out == echo_reply("hello/world") + "\n"


def test_cli_chat_escapes_control_characters(served, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "openai/gpt-4o", "\x1b[2Jclear\ttab")
    assert code == 0 and out == "You said: \\x1b[2Jclear\ttab\n"


def test_cli_chat_errors_are_one_line_with_exit_code_1(served, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "hi", stdin="")
    assert code == 1 and out == ""
    assert err == f"forge-ipy: {NO_SELECTION}\n"
    served.providers["openai"].chat_failure = "rate_limit"
    code, out, err = cli(capsys, monkeypatch, "openai/gpt-4o", "hi")
    assert code == 1 and err.startswith("forge-ipy: HTTP 429: rate limited") and \
        err.count("\n") == 1


def test_cli_chat_without_a_prompt_at_a_terminal_says_how(served, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    code, _, err = cli(capsys, monkeypatch, "openai/gpt-4o")
    assert code == 2 and "forge-ipy chat < question.md" in err and served.chat_bodies == []


def test_a_listed_embedding_model_is_refused_by_name(served):
    served.providers["openai"].models.append(FakeModel("text-embedding-3-small"))
    forge_ipy.get_all_models()
    with pytest.raises(SelectionError) as raised:
        forge_ipy.chat(PROMPT, model="openai/text-embedding-3-small")
    assert str(raised.value) == ("openai/text-embedding-3-small is an embedding model, not a "
                                 "chat model; pick a chat model (`forge-ipy models` lists them)")
    assert served.chat_bodies == []


def test_a_providers_error_text_cannot_drive_the_terminal(served):
    from forge_ipy.chat.transport import error_text
    from forge_ipy.providers.fetch import error_detail
    from forge_ipy.providers.registry import resolve

    access = resolve(all_specs()["openai"])
    body = b'{"error": {"message": "bad \\u001b[2J request\\nfrom test-key-openai"}}'
    assert error_detail(body, access) == "bad \\x1b[2J request from ***"
    assert error_text("stop \x1b]0;x\x07 test-key-openai", access) == "stop \\x1b]0;x\\x07 ***"


def test_chat_timeout_seconds_is_validated_like_the_other_limits(served, monkeypatch):
    monkeypatch.setenv("FORGE_CHAT_TIMEOUT_SECONDS", "1e300")
    with pytest.raises(ForgeError, match=r"chat_timeout_seconds = '1e300' \(from "
                       r"\$FORGE_CHAT_TIMEOUT_SECONDS\) must be a number of seconds above 0 "
                       r"and at most 3600"):
        forge_ipy.chat(PROMPT, model="openai/gpt-4o")
    assert served.chat_bodies == []
