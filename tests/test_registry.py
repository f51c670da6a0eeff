"""The provider table: where each provider's key and API root come from, who is logged in,
and custom endpoints declared in config.toml."""

from __future__ import annotations

import pytest

from forge_ipy import credentials
from forge_ipy.errors import SettingError
from forge_ipy.providers import registry
from forge_ipy.providers.registry import all_specs, logged_in, resolve


def access(provider_id: str) -> registry.ProviderAccess:
    return resolve(all_specs()[provider_id])


def write_config(tmp_path, text: str) -> None:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


def logged_in_ids(only: tuple[str, ...] | None = None) -> list[str]:
    return [a.id for a in logged_in(only)]


def test_the_table_has_every_provider_of_the_design():
    assert [s.id for s in registry.BUILTINS] == [
        "openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek", "xai",
        "together", "fireworks", "cerebras", "ollama", "azure", "bedrock"]


def test_nothing_set_means_only_keyless_ollama_is_a_candidate():
    assert logged_in_ids() == ["ollama"]
    openai = access("openai")
    assert (openai.key, openai.key_source) == (None, None)
    assert (openai.root, openai.root_explicit) == ("https://api.openai.com/v1", False)


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "  sk-from-env \n")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-key")

    openai = access("openai")

    assert (openai.key, openai.key_source) == ("sk-from-env", "env:OPENAI_API_KEY")
    assert logged_in_ids() == ["openai", "mistral", "ollama"]


def test_gemini_takes_google_api_key_and_prefers_gemini_api_key(monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    assert (access("gemini").key, access("gemini").key_source) == (
        "google-key", "env:GOOGLE_API_KEY")

    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    assert access("gemini").key == "gemini-key"


def test_environment_beats_credential_store(monkeypatch):
    credentials.save_key("anthropic", "stored-key")
    assert (access("anthropic").key, access("anthropic").key_source) == ("stored-key", "store")
    assert logged_in_ids() == ["anthropic", "ollama"]

    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    assert (access("anthropic").key, access("anthropic").key_source) == (
        "env-key", "env:ANTHROPIC_API_KEY")


def test_empty_key_variable_is_not_a_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "   ")
    assert "openai" not in logged_in_ids()


@pytest.mark.parametrize("variable, value, provider_id, root", [
    ("FORGE_OPENAI_BASE_URL", "http://proxy.test/v1/", "openai", "http://proxy.test/v1"),
    ("FORGE_GROQ_BASE_URL", "https://gw.test/groq/v1", "groq", "https://gw.test/groq/v1"),
    ("OPENAI_BASE_URL", "https://azure.test/openai/v1", "openai", "https://azure.test/openai/v1"),
    ("ANTHROPIC_BASE_URL", "https://claude.test", "anthropic", "https://claude.test/v1"),
    ("ANTHROPIC_BASE_URL", "https://claude.test/", "anthropic", "https://claude.test/v1"),
    ("ANTHROPIC_BASE_URL", "https://claude.test/v1", "anthropic", "https://claude.test/v1"),
    ("OLLAMA_HOST", "127.0.0.1:11500", "ollama", "http://127.0.0.1:11500"),
    ("OLLAMA_HOST", "https://gpu.test:11434", "ollama", "https://gpu.test:11434"),
    ("FORGE_OLLAMA_BASE_URL", "http://gpu.test:11434", "ollama", "http://gpu.test:11434"),
])
def test_api_root_overrides(monkeypatch, variable, value, provider_id, root):
    monkeypatch.setenv(variable, value)

    found = access(provider_id)

    assert (found.root, found.root_explicit) == (root, True)


def test_forge_variable_beats_sdk_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://sdk.test/v1")
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", "https://forge.test/v1")

    assert access("openai").root == "https://forge.test/v1"


def test_sdk_root_variable_only_moves_its_own_provider(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://sdk.test/v1")

    assert access("deepseek").root == "https://api.deepseek.com/v1"


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(SettingError) as raised:
        logged_in(only=("nope",))

    message = str(raised.value)
    assert "nope" in message
    assert all(spec.id in message for spec in registry.BUILTINS)
    assert "\n" not in message


def test_only_limits_to_the_providers_asked(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "a")
    monkeypatch.setenv("GROQ_API_KEY", "b")

    assert logged_in_ids(("groq",)) == ["groq"]
    assert logged_in_ids(("anthropic",)) == []  # known, but no key


def test_access_repr_never_shows_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")

    found = access("openai")

    assert found.key == "sk-secret-value-123"
    assert "sk-secret-value-123" not in repr(found)
    assert "sk-secret-value-123" not in str(found)
    assert "sk-secret-value-123" not in found.fingerprint


def test_fingerprint_follows_key_and_root(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "key-one")
    first = access("openai").fingerprint
    assert access("openai").fingerprint == first

    monkeypatch.setenv("OPENAI_API_KEY", "key-two")
    second = access("openai").fingerprint
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", "https://elsewhere.test/v1")
    third = access("openai").fingerprint

    assert len({first, second, third}) == 3


def test_custom_provider_from_config(tmp_path, monkeypatch):
    write_config(tmp_path, """
[providers.lab-vllm]
base_url = "http://gpu.test:8000/v1/"

[providers.gateway]
kind = "openai"
name = "Company gateway"
base_url = "https://llm.corp.test/v1"
api_key_env = "GATEWAY_KEY"
""")
    assert logged_in_ids() == ["ollama", "lab-vllm"]  # keyless; the gateway has no key yet

    monkeypatch.setenv("GATEWAY_KEY", "corp-key")
    monkeypatch.setenv("FORGE_LAB_VLLM_BASE_URL", "http://other-gpu.test:8000/v1")
    gateway, vllm = access("gateway"), access("lab-vllm")

    assert logged_in_ids() == ["ollama", "lab-vllm", "gateway"]
    assert (gateway.name, gateway.spec.wire, gateway.root) == (
        "Company gateway", "openai", "https://llm.corp.test/v1")
    assert (gateway.key, gateway.key_source, gateway.root_explicit) == (
        "corp-key", "env:GATEWAY_KEY", True)
    assert (vllm.name, vllm.key, vllm.root) == (
        "lab-vllm", None, "http://other-gpu.test:8000/v1")


@pytest.mark.parametrize("provider_id", ["ollama", "anthropic"])
def test_config_base_url_of_a_builtin_moves_its_root_only(tmp_path, monkeypatch, provider_id):
    write_config(tmp_path, f'[providers.{provider_id}]\nbase_url = "http://box.test:1234/v1"\n')
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-key")

    found = access(provider_id)
    builtin = next(s for s in registry.BUILTINS if s.id == provider_id)

    assert (found.root, found.root_explicit) == ("http://box.test:1234/v1", True)
    assert (found.spec.wire, found.spec.key_envs, found.spec.keyless) == (
        builtin.wire, builtin.key_envs, builtin.keyless)
    assert provider_id in logged_in_ids()


@pytest.mark.parametrize("table, words", [
    ('kind = "soap"\nbase_url = "https://x.test/v1"', ["soap", "openai", "anthropic"]),
    ('kind = "openai"', ["base_url"]),
    ('base_url = "x.test/v1"', ["base_url"]),
    ('base_url = "https://x.test/v1"\napi_key_env = 42', ["api_key_env"]),
])
def test_bad_custom_provider_is_a_one_line_setting_error(tmp_path, table, words):
    write_config(tmp_path, f"[providers.broken]\n{table}\n")

    with pytest.raises(SettingError) as raised:
        logged_in()

    message = str(raised.value)
    assert "providers.broken" in message
    assert all(word in message for word in words)
    assert "\n" not in message


def test_provider_entry_must_be_a_table(tmp_path):
    write_config(tmp_path, 'providers = { broken = "https://x.test/v1" }\n')

    with pytest.raises(SettingError, match=r"providers\.broken"):
        all_specs()


@pytest.mark.parametrize("config, message", [
    ("providers = 3\n", "must be tables"),
    ('[providers.gw]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "sk-live-SECRET123"\n',
     "must be the name of an environment variable"),
])
def test_config_mistakes_are_one_line_errors_that_never_echo_a_key(config, message):
    path = registry.config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    with pytest.raises(SettingError, match=message) as raised:
        registry.logged_in()
    assert "SECRET" not in str(raised.value) and "\n" not in str(raised.value)
