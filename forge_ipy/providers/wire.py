"""What every wire module offers, and the helpers they share.

A wire module knows one API shape: how its requests are signed (`AUTH`, a kind of
`auth.py`), the fixed headers it sends, the first page to ask for, and how to turn a page's
JSON into `Model`s plus the next page (or None).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from ..domain import Model


class BadShape(ValueError):
    """The body is JSON, but not in the provider's shape."""


@dataclass(frozen=True)
class PageRequest:
    path: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    models: list[Model]
    next: PageRequest | None = None


class Wire(Protocol):
    AUTH: str  # "bearer", "x-api-key", "x-goog-api-key", "api-key", "sigv4:SERVICE", "none"
    HEADERS: dict[str, str]  # sent with every request; never a secret

    def first_page(self) -> PageRequest: ...

    def parse_page(self, provider_id: str, payload: Any, request: PageRequest) -> Page: ...


def expect_list(payload: Any, key: str | None, id_field: str | None = None
                ) -> list[dict[str, Any]]:
    """`payload[key]` (or `payload` itself when key is None) as a list of objects, each with
    a string id: `id_field`, else `id` or `name`.

    An item that is not an object, or has no string id, is skipped: one odd model never
    fails the whole provider.
    """
    items = payload.get(key) if key is not None and isinstance(payload, dict) else payload
    if key is not None and not isinstance(payload, dict):
        raise BadShape(f"expected a JSON object with {key!r}")
    if not isinstance(items, list):
        raise BadShape(f"expected a list of models{f' in {key!r}' if key else ''}")
    return [item for item in items if isinstance(item, dict) and isinstance(
        item.get(id_field) if id_field else item.get("id", item.get("name")), str)]


def to_models(provider_id: str, items: list[dict[str, Any]],
              to_model: Callable[[str, dict[str, Any]], Model]) -> list[Model]:
    """`to_model` of each item, skipping the ones it cannot make a Model of (an unusable id,
    a field of a type the wire module did not expect)."""
    models = []
    for item in items:
        try:
            models.append(to_model(provider_id, item))
        except (ValidationError, KeyError, TypeError, ValueError, AttributeError):
            continue
    return models


def as_dict(item: dict[str, Any], key: str) -> dict[str, Any]:
    """`item[key]` when it is an object, else {}: providers omit or null nested objects."""
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return int(value)
    return None


def as_price(value: Any, per_token: bool = False) -> float | None:
    """A price as USD per million tokens; `per_token` prices are scaled up."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number < 0:  # OpenRouter marks "varies" with -1
        return None
    return round(number * 1_000_000, 6) if per_token else number


def next_by_last_id(payload: dict[str, Any], items: list[dict[str, Any]],
                    request: PageRequest, cursor: str) -> PageRequest | None:
    """The next page of a `has_more` list, asked for by its last id (`after`, `after_id`)."""
    if not payload.get("has_more") or not items:
        return None
    last = payload.get("last_id") or items[-1]["id"]
    return PageRequest(request.path, {**request.params, cursor: str(last)})


# -- model facts: the fields providers send beside ids (DESIGN.md "Model facts") -------------
def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def as_strings(value: Any) -> tuple[str, ...]:
    """A list of short strings as a tuple, lower-cased and bounded (a provider's list may be
    hostile); anything else, or any other item, left out."""
    if not isinstance(value, list):
        return ()
    words = (v.lower() for v in value[:_MOST_WORDS] if isinstance(v, str) and 0 < len(v) <= 64)
    return tuple(dict.fromkeys(words))


_MOST_WORDS = 64


def as_positive(value: Any) -> int | None:
    """A token count; 0 and negatives mean unknown (Anthropic sends 0 for some models)."""
    number = as_int(value)
    return number if number is not None and number > 0 else None


def kind_from_modalities(inputs: Sequence[str], outputs: Sequence[str]) -> str | None:
    """The kind a model's own modalities say: text out is chat, unless it only hears audio
    (a transcriber); image or audio out is that; embeddings are embeddings. None: unsaid."""
    if any(o.startswith("embedding") for o in outputs):
        return "embedding"
    if "text" in outputs:
        return "audio" if inputs and "text" not in inputs and "audio" in inputs else "chat"
    if "image" in outputs:
        return "image"
    if "audio" in outputs:
        return "audio"
    return "other" if outputs else None


def sunset_status(date: Any, today: str | None = None) -> str | None:
    """`deprecated` for a model with a date after which it goes away, `retired` once it is
    past (compared as ISO dates, `YYYY-MM-DD...`); None without a date."""
    if not isinstance(date, str | int | float) or isinstance(date, bool) or date == "":
        return None
    if isinstance(date, int | float):  # seconds since the epoch
        try:
            date = datetime.datetime.fromtimestamp(date, datetime.UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return "deprecated"
    today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
    return "retired" if len(date) >= 10 and date[:10] < today else "deprecated"


def listing_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The fields of the listing format many OpenAI-shaped providers add to `/models` (Groq,
    and gateways that follow OpenRouter's provider listing): modalities, `supported_features`,
    per-token `pricing`, `max_output_length`. Only what the item holds."""
    fields: dict[str, Any] = {}
    inputs, outputs = as_strings(item.get("input_modalities")), as_strings(
        item.get("output_modalities"))
    if inputs:
        fields["input_modalities"] = inputs
    if outputs:
        fields["output_modalities"] = outputs
    kind = kind_from_modalities(inputs, outputs)
    if kind:
        fields["kind"] = kind
    features = as_strings(item.get("supported_features") or item.get("features"))
    if features:
        fields["tools"] = "tools" in features or "function_calling" in features
        fields["reasoning"] = "reasoning" in features
    pricing = as_dict(item, "pricing")
    for name, key in (("input_price", "prompt"), ("output_price", "completion"),
                      ("cache_read_price", "input_cache_read")):
        price = as_price(pricing.get(key), per_token=True)
        if price is not None:
            fields[name] = price
    output = as_positive(item.get("max_output_length"))
    if output:
        fields["max_output_tokens"] = output
    return fields


def with_facts(source: str, **fields: Any) -> dict[str, Any]:
    """`fields` for a `Model`, with `facts_from=(source,)` when any of them is a fact (any
    field beside id, name and created), so the listing knows who said it."""
    said = any(value not in (None, ()) for name, value in fields.items()
               if name not in _NOT_FACTS)
    return {**fields, "facts_from": (source,)} if said else fields


_NOT_FACTS = frozenset({"provider_id", "id", "name", "created"})
