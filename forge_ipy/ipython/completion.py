"""Tab completion of `provider/model` names for `%forge_select` and of provider ids for `-p`.

A v2 matcher (IPython >= 8.6) registered on load and removed on unload. Names come from the
cache only: completing never waits for the network.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

_SELECT = re.compile(r"^\s*%{1,2}forge_select\s+(?P<arg>\S*)$")
_PROVIDER = re.compile(r"^\s*%{1,2}forge_(models|cache)\b.*\s(-p|--provider)\s+(?P<arg>\S*)$")


def _model_names() -> list[str]:
    """Names that can be inserted as they are: a newline in one would add a line of code."""
    from ..catalog import get_catalog
    from ..text import plain

    return [m.full_name for m in get_catalog().cached().filter() if plain(m.full_name)]


def _provider_ids() -> list[str]:
    from ..accounts import provider_ids

    return provider_ids()


def candidates(arg: str) -> list[str]:
    """Full names starting with `arg`, or whose model id does (`gpt` → `openai/gpt-4o`)."""
    names = _model_names()
    return [n for n in names if n.startswith(arg)
            or ("/" not in arg and n.partition("/")[2].startswith(arg))]


@context_matcher(identifier="forge_ipy")
def forge_matcher(context: CompletionContext) -> dict[str, Any]:
    """Never raises: a broken config.toml or an unreadable cache gives no completions (the
    next magic says what is wrong), not a traceback under the prompt."""
    from ..errors import ForgeError

    try:
        return _complete(context.line_with_cursor)
    except (ForgeError, OSError, ValueError):
        return {"completions": [], "suppress": False}


def _complete(line: str) -> dict[str, Any]:
    found = _SELECT.match(line)
    if found:
        names, kind = candidates(found["arg"]), "model"
    else:
        found = _PROVIDER.match(line)
        if not found:
            return {"completions": [], "suppress": False}
        names, kind = [p for p in _provider_ids() if p.startswith(found["arg"])], "provider"
    # The whole argument is replaced, not just IPython's token (which it splits at ':' and
    # other delimiters), so `llama3.2:l` can become `ollama/llama3.2:latest`.
    completions = [SimpleCompletion(text=n, type=kind) for n in names]
    return {"completions": completions, "suppress": True, "matched_fragment": found["arg"]}


def register(ipython: Any) -> None:
    matchers = ipython.Completer.custom_matchers
    if forge_matcher not in matchers:
        matchers.insert(0, forge_matcher)


def unregister(ipython: Any) -> None:
    matchers = ipython.Completer.custom_matchers
    while forge_matcher in matchers:
        matchers.remove(forge_matcher)
