"""`client()`: the provider's official SDK client, pointed at the same root with the same key.

OpenAI-shaped providers (and Ollama, through its OpenAI-compatible `/v1`) get `openai.OpenAI`;
Anthropic `anthropic.Anthropic` (its root without `/v1`, which the SDK adds); Gemini
`google.genai.Client` (the version segment becomes `api_version`). The SDKs are optional
extras, imported only here.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ForgeError
from .service import find_target

_EXTRAS = {"openai": ("openai", "OpenAI"), "anthropic": ("anthropic", "Anthropic"),
           "google.genai": ("gemini", "Google Gen AI")}


def client(name: str | None = None) -> Any:
    """The official SDK client for the selected (or named) model's provider, with its API
    root and key: `openai.OpenAI`, `anthropic.Anthropic` or `google.genai.Client`."""
    access = find_target(name, chat_only=False).access
    shape, root, key = access.spec.chat_wire, access.root, access.key
    if shape == "anthropic":
        return _sdk("anthropic").Anthropic(api_key=key, base_url=root.removesuffix("/v1"))
    if shape == "gemini":
        genai = _sdk("google.genai")
        base, _, version = root.rpartition("/")
        return genai.Client(api_key=key, http_options=genai.types.HttpOptions(
            base_url=base + "/", api_version=version))
    if shape == "ollama":  # Ollama answers the OpenAI shape under /v1; it wants no key
        return _sdk("openai").OpenAI(api_key="ollama", base_url=root + "/v1")
    return _sdk("openai").OpenAI(api_key=key or "none", base_url=root)


def _sdk(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        extra, label = _EXTRAS[module]
        raise ForgeError(f"the {label} SDK is not installed; run pip install "
                         f"'forge-ipy[{extra}]'") from None
