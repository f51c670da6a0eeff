"""Settings: override > environment > config.toml > default, and clear errors for bad values."""

from __future__ import annotations

import os

import pytest

from forge_ipy import settings
from forge_ipy.errors import SettingError
from forge_ipy.settings import Settings, resolve_settings, validate


def write_config(tmp_path, text: str) -> None:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


def test_folders_follow_their_variables(tmp_path):
    assert settings.config_dir() == tmp_path / "config"
    assert settings.cache_dir() == tmp_path / "cache"


def test_defaults(monkeypatch):
    monkeypatch.delenv("FORGE_MODEL_FACTS_URL")  # the test suite's own: never models.dev
    assert resolve_settings() == Settings(
        model_cache_strategy="moderate", model_cache_ttl_seconds=3600.0,
        model_cache_refresh="background", provider_timeout_seconds=10.0,
        model_facts_url="https://models.dev/api.json")


@pytest.mark.parametrize("given, kept", [
    ("OFF", "off"), (" https://facts.example/api.json ", "https://facts.example/api.json"),
    ("http://127.0.0.1:8080/api.json", "http://127.0.0.1:8080/api.json"),
])
def test_model_facts_url_takes_a_url_or_off(monkeypatch, given, kept):
    monkeypatch.setenv("FORGE_MODEL_FACTS_URL", given)
    assert resolve_settings().model_facts_url == kept


@pytest.mark.parametrize("bad", ["models.dev/api.json", "ftp://x/api.json", "https://",
                                 "https://user:secret@x/a b", "", 5])
def test_model_facts_url_refuses_anything_else_without_echoing_it(bad):
    with pytest.raises(SettingError) as raised:
        resolve_settings({"model_facts_url": bad})
    message = str(raised.value)
    assert "model_facts_url" in message and "off" in message and "secret" not in message


def test_precedence_override_env_config_default(tmp_path, monkeypatch):
    write_config(tmp_path, 'model_cache_strategy = "aggressive"\nmodel_cache_refresh = "block"\n')
    monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", "fresh")
    monkeypatch.setenv("FORGE_PROVIDER_TIMEOUT_SECONDS", "2.5")

    found = resolve_settings({"model_cache_strategy": "moderate",
                              "model_cache_ttl_seconds": None})  # None: not given

    assert found.model_cache_strategy == "moderate"  # override
    assert found.provider_timeout_seconds == 2.5  # environment
    assert found.model_cache_refresh == "block"  # config.toml
    assert found.model_cache_ttl_seconds == 3600.0  # default
    assert resolve_settings().model_cache_strategy == "fresh"
    monkeypatch.delenv("FORGE_MODEL_CACHE_STRATEGY")
    assert resolve_settings().model_cache_strategy == "aggressive"


def test_choices_are_normalised(monkeypatch):
    monkeypatch.setenv("FORGE_MODEL_CACHE_REFRESH", " Block ")

    assert resolve_settings().model_cache_refresh == "block"


def test_empty_variable_is_unset(monkeypatch):
    monkeypatch.setenv("FORGE_MODEL_CACHE_STRATEGY", "")

    assert resolve_settings().model_cache_strategy == "moderate"


@pytest.mark.parametrize("name, allowed", [
    ("model_cache_strategy", settings.STRATEGIES),
    ("model_cache_refresh", settings.REFRESH_MODES),
])
def test_bad_choice_names_setting_and_allowed_values(monkeypatch, name, allowed):
    monkeypatch.setenv(f"FORGE_{name.upper()}", "sometimes")

    with pytest.raises(SettingError) as raised:
        resolve_settings()

    message = str(raised.value)
    assert all(word in message for word in (name, "sometimes", *allowed))
    assert f"FORGE_{name.upper()}" in message  # where the bad value came from
    assert "\n" not in message


@pytest.mark.parametrize("value", ["-5", "0", "nan", "NaN", "inf", "soon", ""])
@pytest.mark.parametrize("name", ["model_cache_ttl_seconds", "provider_timeout_seconds"])
def test_bad_seconds_are_refused(name, value):
    with pytest.raises(SettingError, match=name):
        validate(name, value)


@pytest.mark.parametrize("value", [float("nan"), -1, True])
def test_bad_seconds_in_an_override_are_refused(value):
    with pytest.raises(SettingError, match="model_cache_ttl_seconds"):
        resolve_settings({"model_cache_ttl_seconds": value})


def test_bad_value_in_config_names_config(tmp_path):
    write_config(tmp_path, "model_cache_ttl_seconds = -60\n")

    with pytest.raises(SettingError, match=r"model_cache_ttl_seconds.*config\.toml"):
        resolve_settings()


def test_seconds_from_config_and_env(tmp_path, monkeypatch):
    write_config(tmp_path, "model_cache_ttl_seconds = 60\n")
    monkeypatch.setenv("FORGE_PROVIDER_TIMEOUT_SECONDS", "0.25")

    found = resolve_settings()

    assert (found.model_cache_ttl_seconds, found.provider_timeout_seconds) == (60.0, 0.25)


def test_config_edit_within_one_clock_tick_is_seen(tmp_path):
    """Some file systems stamp times coarsely: an edit may keep the old mtime."""
    write_config(tmp_path, 'model_cache_strategy = "fresh"\n')
    before = (tmp_path / "config" / "config.toml").stat()
    assert resolve_settings().model_cache_strategy == "fresh"

    write_config(tmp_path, 'model_cache_strategy = "aggressive"\n')
    os.utime(tmp_path / "config" / "config.toml", ns=(before.st_atime_ns, before.st_mtime_ns))

    assert resolve_settings().model_cache_strategy == "aggressive"


def test_invalid_toml_is_a_setting_error(tmp_path):
    write_config(tmp_path, "model_cache_strategy = \n")

    with pytest.raises(SettingError) as raised:
        resolve_settings()

    assert "config.toml" in str(raised.value)
    assert "not valid TOML" in str(raised.value)


def test_unknown_setting_lists_the_known_ones():
    with pytest.raises(SettingError) as raised:
        validate("model_cache_colour", "blue")

    assert all(name in str(raised.value) for name in settings.SETTING_NAMES)
