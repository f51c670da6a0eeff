"""The service's provider table (accounts.py), and the rule that frontends reach providers,
keys and the cache only through the service."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import forge_ipy
from forge_ipy import accounts, cli
from forge_ipy.accounts import safe_root
from forge_ipy.catalog import Catalog

PACKAGE = Path(forge_ipy.__file__).parent
FRONTENDS = [PACKAGE / "cli.py", *sorted((PACKAGE / "ipython").glob("*.py"))]
# What lies below the service: frontends never import these (DESIGN.md "The house").
BELOW_THE_SERVICE = ("forge_ipy.providers", "forge_ipy.cache", "forge_ipy.aggregator",
                     "forge_ipy.credentials", "forge_ipy.loop")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, lazily imported ones included."""
    package = "forge_ipy.ipython" if path.parent.name == "ipython" else "forge_ipy"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", FRONTENDS, ids=lambda p: p.name)
def test_frontends_import_only_the_service_and_display_helpers(path):
    below = sorted(m for m in imported_modules(path)
                   if m.startswith(BELOW_THE_SERVICE))
    assert below == []


@pytest.mark.parametrize(("root", "shown"), [
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("https://user:sk-SECRET@gateway.example/v1", "https://gateway.example/v1"),
    ("https://gateway.example/v1?api-key=sk-SECRET#frag", "https://gateway.example/v1"),
    ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
    ("http://localhost:11434", "http://localhost:11434"),
    ("http://host:notaport/v1", "http://…"),
    ("https://evil.example/\x1b[2Jv1", "https://evil.example/\\x1b[2Jv1"),
])
def test_api_roots_are_shown_without_secrets_or_control_characters(root, shown):
    assert safe_root(root) == shown


def test_a_key_pasted_into_an_api_root_is_never_shown(monkeypatch, capsys):
    monkeypatch.setenv("FORGE_OPENAI_BASE_URL", "https://me:sk-SECRET@gw.example/v1?key=sk-SECRET")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET")
    for argv in (["providers"], ["providers", "--json"]):
        assert cli.main(argv) == 0
        out, err = capsys.readouterr()
        assert "sk-SECRET" not in out + err
        assert "https://gw.example/v1" in out


def test_rows_say_who_is_logged_in_where_the_key_comes_from_and_the_state(loopback, serve):
    loopback.add("openai")
    loopback.add("groq", failure="status:500")
    serve()
    catalog = Catalog()
    catalog.get_all_models()
    rows = {row.id: row for row in accounts.provider_rows(catalog)}
    assert rows["openai"].logged_in and rows["openai"].key_source == "env:OPENAI_API_KEY"
    assert rows["openai"].status.ok and rows["openai"].status.model_count > 0
    assert rows["groq"].status.error_kind == "http"
    assert not rows["gemini"].logged_in and rows["gemini"].status is None
    assert rows["gemini"].key_source == "not set: GEMINI_API_KEY or GOOGLE_API_KEY"
    assert rows["ollama"].key_source == "no key needed"


def test_providers_json_carries_the_state(loopback, serve, capsys):
    loopback.add("openai")
    serve()
    assert cli.main(["models", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["providers", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["openai"]["state"] == "cached just now"
    assert rows["gemini"]["state"] is None


def test_login_and_logout_go_through_the_service(monkeypatch):
    assert accounts.login("mistral", "sk-m").id == "mistral"
    assert accounts.anyone_logged_in(("mistral",))
    assert accounts.logout("mistral")[1] is True
    assert accounts.logout("mistral")[1] is False
    with pytest.raises(forge_ipy.ForgeError, match="unknown provider 'nope'; known: openai"):
        accounts.known_provider("nope")
