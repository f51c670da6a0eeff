"""What every wire module offers, and the helpers they share.

A wire module knows one API shape: how its requests are signed (`AUTH`, a kind of
`auth.py`), the fixed headers it sends, the first page to ask for, and how to turn a page's
JSON into `Model`s plus the next page (or None).
"""

from __future__ import annotations

from collections.abc import Callable
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

