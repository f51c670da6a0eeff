"""The compact catalog of model facts, and how a listed model finds its entry in it.

One format serves the bundled snapshot (built by `scripts/update-model-facts`), the live
catalog fetched from `model_facts_url` (models.dev's `api.json` shape) and its cached copy:
`{catalog provider id: {model id: {Model field: value}}}`, only the providers forge-ipy maps
and only the fields `Model` has. Whatever arrives is checked field by field here, so a
damaged or hostile catalog costs the fields it got wrong, never a listing. No I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .domain import MODEL_KINDS
from .kinds import kind_from_facts

SCHEMA = 1
# Our provider ids and the catalog's (models.dev `providers/<id>`).
CATALOG_PROVIDERS: dict[str, str] = {
    "openai": "openai", "anthropic": "anthropic", "gemini": "google",
    "openrouter": "openrouter", "groq": "groq", "mistral": "mistral", "deepseek": "deepseek",
    "xai": "xai", "together": "togetherai", "fireworks": "fireworks-ai",
    "cerebras": "cerebras", "ollama": "ollama-cloud", "azure": "azure",
    "bedrock": "amazon-bedrock",
}
Facts = dict[str, Any]  # Model field -> value, only the fields a source gave
Lookup = Callable[[str], "Facts | None"]

_MODALITIES = frozenset(("text", "audio", "image", "video", "pdf"))
_DATE = re.compile(r"\d{4}-\d{2}(?:-\d{2})?")
_MAX_TOKENS = 1 << 31  # a limit above this is damage, not a model
_MAX_PRICE = 1e6  # USD per million tokens
_MAX_ID = 256
# Suffixes that name a snapshot or an alias of one model: dates (-20250929, -2024-08-06,
# @20250929, -0613, -2411), Gemini versions (-001), -latest, Bedrock versions (-v2:0),
# Ollama and OpenRouter tags (:latest, :free). Stripped to find a model's undated entry.
_ALIAS_SUFFIX = re.compile(
    r"(?:[-@:](?:latest|default|free)|-v\d+:\d+|[-@]\d{8}|-\d{4}-\d{2}-\d{2}|-\d{2}-\d{2}"
    r"|-\d{3,4})$")
_SUFFIX_ROOM = 16  # longer than any one suffix above


# -- checking what arrives -------------------------------------------------------------------
def _count(value: object) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_TOKENS:
        return value
    return None


def _price(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and 0 <= number < _MAX_PRICE:
            return number
    return None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _date(value: object) -> str | None:
    return value if isinstance(value, str) and _DATE.fullmatch(value) else None


def _modalities(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple) or len(value) > len(_MODALITIES):
        return None
    kept = tuple(dict.fromkeys(v for v in value if isinstance(v, str) and v in _MODALITIES))
    return kept or None


def _status(value: object) -> str | None:
    return value if value in ("deprecated", "retired") else None


def _kind(value: object) -> str | None:
    return value if isinstance(value, str) and value in MODEL_KINDS else None


_CHECKS: dict[str, Callable[[object], Any]] = {
    "context_length": _count, "max_output_tokens": _count, "tools": _flag,
    "input_price": _price, "output_price": _price, "cache_read_price": _price,
    "reasoning": _flag, "input_modalities": _modalities, "output_modalities": _modalities,
    "knowledge": _date, "release_date": _date, "status": _status, "kind": _kind,
}
FACT_FIELDS = tuple(name for name in _CHECKS if name != "kind")


def clean_facts(raw: object) -> Facts:
    """The fields of `raw` that hold a value of the right type and range; the rest dropped."""
    if not isinstance(raw, dict):
        return {}
    facts = {}
    for name, check in _CHECKS.items():
        value = check(raw.get(name))
        if value is not None:
            facts[name] = value
    return facts


def _table(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def facts_from_api(model: object) -> Facts:
    """One model of models.dev's `api.json` as compact facts (its kind from its facts)."""
    if not isinstance(model, dict):
        return {}
    limit, cost = _table(model, "limit"), _table(model, "cost")
    modalities = _table(model, "modalities")
    facts = clean_facts({
        "context_length": limit.get("context"), "max_output_tokens": limit.get("output"),
        "tools": model.get("tool_call"), "reasoning": model.get("reasoning"),
        "input_price": cost.get("input"), "output_price": cost.get("output"),
        "cache_read_price": cost.get("cache_read"),
        "input_modalities": modalities.get("input"),
        "output_modalities": modalities.get("output"),
        "knowledge": model.get("knowledge"), "release_date": model.get("release_date"),
        "status": model.get("status"),
    })
    kind = kind_from_facts(model.get("family"), facts.get("output_modalities", ()))
    if kind is not None:
        facts["kind"] = kind
    return facts


def _models(rows: object, convert: Callable[[object], Facts]) -> dict[str, Facts]:
    if not isinstance(rows, dict):
        return {}
    models = {}
    for model_id, raw in rows.items():
        facts = convert(raw)
        if isinstance(model_id, str) and 0 < len(model_id) <= _MAX_ID and facts:
            models[model_id] = facts
    return models


def compact_api_document(document: object) -> dict[str, dict[str, Facts]]:
    """The providers we map out of a models.dev `api.json`-shaped document, compacted.

    Raises ValueError when it is not that shape at all; a wrong entry only loses itself.
    """
    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object of providers")
    providers = {}
    for catalog_id in dict.fromkeys(CATALOG_PROVIDERS.values()):
        entry = document.get(catalog_id)
        rows = entry.get("models") if isinstance(entry, dict) else None
        models = _models(rows, facts_from_api)
        if models:
            providers[catalog_id] = models
    if not providers:
        raise ValueError("it lists none of the providers forge-ipy knows")
    return providers


def read_compact(data: object, *, trusted: bool = False) -> dict[str, dict[str, Facts]]:
    """Our own compact form read back: a cached copy with every field checked again; the
    bundled snapshot (`trusted`, checked when it was built and by the tests) as it is."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError("it is not a forge-ipy catalog of model facts")
    providers = data.get("providers")
    if not isinstance(providers, dict):
        raise ValueError("it has no providers")
    convert = _with_tuples if trusted else clean_facts
    return {pid: models for pid, rows in providers.items()
            if isinstance(pid, str) and (models := _models(rows, convert))}


def _with_tuples(facts: Any) -> Facts:
    for name in ("input_modalities", "output_modalities"):
        if name in facts:
            facts[name] = tuple(facts[name])
    return facts


def parse_json(body: bytes | str) -> Any:
    """JSON as a catalog may send it, refusing what Python's parser would let through:
    NaN and Infinity. Nesting too deep or numbers too long raise ValueError too."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"it holds {name}, which is not a number")


def dump_compact(providers: Mapping[str, Mapping[str, Facts]], **header: Any) -> str:
    """The compact form as text: one model a line, sorted, so a new snapshot diffs well."""
    from .files import to_json  # strict: a non-finite number is written as null

    lines = ["{" + "".join(f"{to_json(k)}: {to_json(v)}, " for k, v in
                           {"schema": SCHEMA, **header}.items()) + '"providers": {']
    for n, pid in enumerate(sorted(providers)):
        lines.append(f"{to_json(pid)}: {{")
        models = providers[pid]
        for m, model_id in enumerate(sorted(models)):
            comma = "," if m < len(models) - 1 else ""
            facts = to_json(models[model_id], sort_keys=True, separators=(",", ":"))
            lines.append(f"{to_json(model_id)}: {facts}{comma}")
        lines.append("}" + ("," if n < len(providers) - 1 else ""))
    lines.append("}}")
    return "\n".join(lines) + "\n"


# -- finding a model's entry -----------------------------------------------------------------
def alias_key(model_id: str) -> str:
    """`model_id` without the suffixes that name a snapshot or alias of the same model."""
    key = model_id.lower()
    for _ in range(3):  # claude-3-5-sonnet-20241022-v2:0 carries two
        # Only the tail can hold a suffix: searching it alone keeps long ids cheap.
        head, tail = key[:-_SUFFIX_ROOM], key[-_SUFFIX_ROOM:]
        shorter = head + _ALIAS_SUFFIX.sub("", tail)
        if shorter == key or not shorter:
            break
        key = shorter
    return key


class FactIndex:
    """The catalog as dict lookups, built once per catalog: never a scan per model."""

    def __init__(self, providers: Mapping[str, Mapping[str, Facts]]) -> None:
        self.providers = providers  # checked by clean_facts: modalities are tuples already
        self._aliases: dict[str, dict[str, Facts]] = {}
        self._exact_any: dict[str, Facts] | None = None

    def __len__(self) -> int:
        return sum(map(len, self.providers.values()))

    def lookup_for(self, provider_id: str, *, builtin: bool) -> Lookup:
        """How a model of `provider_id` finds its facts: its catalog provider's entry by
        exact id, then by alias; a custom gateway borrows any mapped provider's facts, but
        only on an exact id match."""
        catalog_id = CATALOG_PROVIDERS.get(provider_id) if builtin else None
        if catalog_id is None:
            return self._exact_anywhere().get
        exact = self.providers.get(catalog_id, {})
        aliases = self._alias_table(catalog_id)

        def lookup(model_id: str) -> Facts | None:
            return exact.get(model_id) or aliases.get(alias_key(model_id))

        return lookup

    def _alias_table(self, catalog_id: str) -> dict[str, Facts]:
        table = self._aliases.get(catalog_id)
        if table is None:
            table = self._aliases[catalog_id] = _aliases(self.providers.get(catalog_id, {}))
        return table

    def _exact_anywhere(self) -> dict[str, Facts]:
        if self._exact_any is None:
            table: dict[str, Facts] = {}
            for catalog_id in dict.fromkeys(CATALOG_PROVIDERS.values()):  # first maker wins
                for model_id, facts in self.providers.get(catalog_id, {}).items():
                    table.setdefault(model_id, facts)
            self._exact_any = table
        return self._exact_any


def _aliases(models: Mapping[str, Facts]) -> dict[str, Facts]:
    """Alias key -> the entry it stands for: the undated entry when the catalog has one,
    else the newest snapshot."""
    best: dict[str, tuple[tuple[bool, str], Facts]] = {}
    for model_id, facts in models.items():
        key = alias_key(model_id)
        rank = (key == model_id.lower(), facts.get("release_date", ""))
        if key not in best or rank > best[key][0]:
            best[key] = (rank, facts)
    return {key: facts for key, (_, facts) in best.items()}
