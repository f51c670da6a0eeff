"""The data forge-ipy passes between layers: models, provider states, the selection.

Data only: no I/O, and nothing of ours is imported here. A `Model` carries its
`provider_id` from the moment a wire module parses it, so nothing downstream guesses it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

ErrorKind = Literal["auth", "timeout", "unreachable", "http", "bad_response", "too_large"]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)
# What a model is (DESIGN.md "Model facts"). Plain strings in `Model`, so a cache file or a
# catalog with a kind this version does not know loses that field, not the whole list.
MODEL_KINDS = ("chat", "completion", "embedding", "image", "audio", "moderation", "other")
MODEL_STATUSES = ("deprecated", "retired")
FACT_SOURCES = ("provider", "gateway", "catalog")

# What one provider may make us hold (a provider is hostile: DESIGN.md). A list over the
# model cap is refused whole; a model whose id is over its cap is skipped; names and other
# text are cut. The numbers are far above anything a real provider sends.
MAX_MODELS_PER_PROVIDER = 20_000
MAX_ID_CHARS = 256
MAX_NAME_CHARS = 512
MAX_TEXT_CHARS = 64  # kind, status, knowledge, release date, each modality
MAX_LIST_ITEMS = 16  # modalities, fact sources
MAX_COUNT = 2**53  # token counts and timestamps: beyond this is not a count but an attack
MAX_PRICE = 1e9  # USD per million tokens
_SURROGATE = re.compile("[\ud800-\udfff]")
# The bounds as pydantic constraints, checked in Rust: a model within them costs nothing more.
# A lone surrogate fails any `str` there too (`string_unicode`).
_Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
_Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]  # not True, not "5"
_Price = Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False, strict=True)]
_Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
_Texts = Annotated[tuple[_Text, ...], Field(max_length=MAX_LIST_ITEMS)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Model(_Frozen):
    """One model offered by one provider. Prices are USD per million tokens."""

    provider_id: _Id
    id: _Id
    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""
    context_length: _Count | None = None
    max_output_tokens: _Count | None = None
    tools: StrictBool | None = None
    input_price: _Price | None = None
    output_price: _Price | None = None
    input_modalities: _Texts = ()
    created: _Count | None = None
    # Model facts (DESIGN.md): None where no source said. `kind` is one of MODEL_KINDS
    # once a listing is built; a wire module leaves it None when the provider gives no signal.
    kind: _Text | None = None
    reasoning: StrictBool | None = None
    output_modalities: _Texts = ()
    cache_read_price: _Price | None = None
    knowledge: _Text | None = None  # training cut-off, as the source writes it ("2024-06")
    release_date: _Text | None = None
    status: _Text | None = None  # None, "deprecated" or "retired"
    facts_from: _Texts = ()  # which of FACT_SOURCES filled any field

    @model_validator(mode="wrap")
    @classmethod
    def _bounded(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Odd values from a provider or a damaged cache file null their field (a huge or
        negative number, NaN, a lone surrogate, a wrong type) and text over its cap is cut;
        an unusable id refuses the model, which the wire modules then skip. Only a model
        outside the bounds above pays for this look, field by field."""
        try:
            return handler(data)
        except ValidationError:
            if not isinstance(data, dict):
                raise
        cleaned = {name: _CHECKS[name](value) if name in _CHECKS and value is not None
                   else value for name, value in data.items()}
        return handler(cleaned)

    @property
    def full_name(self) -> str:
        """`provider/model`: split at the first `/`, since OpenRouter ids contain `/`."""
        return f"{self.provider_id}/{self.id}"

    @property
    def listed_by_default(self) -> bool:
        """Shown without `--all`: a chat model (or one nothing says otherwise of), not retired."""
        return self.kind in (None, "chat") and self.status != "retired"


def usable_text(value: object) -> bool:
    """A string that can be stored and shown: no lone surrogate (not encodable as UTF-8)."""
    return isinstance(value, str) and (value.isascii() or not _SURROGATE.search(value))


def usable_id(value: object) -> bool:
    """A model id forge-ipy can list, store and select."""
    return usable_text(value) and 0 < len(value) <= MAX_ID_CHARS  # type: ignore[arg-type]


def _id(value: object) -> object:
    if not usable_id(value):
        raise ValueError("unusable model id (not text, empty, over "
                         f"{MAX_ID_CHARS} characters or not valid Unicode)")
    return value


def _text(cap: int) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not usable_text(value):
            return None
        return value if len(value) <= cap else value[:cap]  # type: ignore[arg-type, index]
    return check


def _name(value: object) -> object:
    return _text(MAX_NAME_CHARS)(value) or ""


def _count(value: object) -> object:
    if type(value) is int:
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_COUNT:
        return int(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:
        return _count(int(value))
    return None


def _price(value: object) -> object:
    if type(value) is float:
        return value if 0 <= value <= MAX_PRICE else None  # NaN fails both comparisons
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value[:32] if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_PRICE else None


def _flag(value: object) -> object:
    return value if isinstance(value, bool) else None


def _texts(value: object) -> object:
    if not isinstance(value, list | tuple):
        return ()
    short = _text(MAX_TEXT_CHARS)
    items = tuple(item for item in value[:MAX_LIST_ITEMS] if short(item) is item)
    return value if len(items) == len(value) and isinstance(value, tuple) else items


_CHECKS: dict[str, Callable[[object], object]] = {
    "provider_id": _id, "id": _id, "name": _name,
    "context_length": _count, "max_output_tokens": _count, "created": _count,
    "tools": _flag, "reasoning": _flag,
    "input_price": _price, "output_price": _price, "cache_read_price": _price,
    "input_modalities": _texts, "output_modalities": _texts, "facts_from": _texts,
    "kind": _text(MAX_TEXT_CHARS), "knowledge": _text(MAX_TEXT_CHARS),
    "release_date": _text(MAX_TEXT_CHARS), "status": _text(MAX_TEXT_CHARS),
}


class ProviderStatus(_Frozen):
    """How one provider's list was obtained this time, or why it was not."""

    id: str
    name: str
    ok: bool
    model_count: int = 0
    from_cache: bool = False
    stale: bool = False
    fetched_at: float | None = None  # seconds since the epoch; None when never fetched
    error_kind: ErrorKind | None = None
    error: str | None = None

    def age_seconds(self, now: float) -> float | None:
        return None if self.fetched_at is None else max(0.0, now - self.fetched_at)


class Selection(_Frozen):
    """The active provider and model."""

    provider_id: str
    model: str

    @property
    def full_name(self) -> str:
        return f"{self.provider_id}/{self.model}"


@dataclass(frozen=True, slots=True)
class ModelListing:
    """Every model of the providers asked, sorted, with how each provider fared.

    Iterating yields models; `filter` narrows without touching the network.
    """

    models: tuple[Model, ...]
    providers: tuple[ProviderStatus, ...]
    # Full names of models that a refresh brought and the provider's previous list lacked.
    new: frozenset[str] = frozenset()

    def __iter__(self) -> Iterator[Model]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def by_provider(self) -> dict[str, list[Model]]:
        groups: dict[str, list[Model]] = {}
        for model in self.models:
            groups.setdefault(model.provider_id, []).append(model)
        return groups

    def status(self, provider_id: str) -> ProviderStatus | None:
        return next((p for p in self.providers if p.id == provider_id), None)

    def filter(self, text: str | None = None, *, tools: bool | None = None,
               providers: Iterable[str] | None = None, all_kinds: bool = False) -> ModelListing:
        """The models a list shows: chat models that are not retired (`Model.listed_by_default`;
        every model with `all_kinds`), whose `provider/model` or name contains `text` (any
        case), with tools if asked, of `providers` if given. The one place lists are narrowed."""
        wanted = set(providers) if providers else None
        needle = text.lower() if text else None
        models = tuple(
            m for m in self.models
            if (all_kinds or m.listed_by_default)
            and (wanted is None or m.provider_id in wanted)
            and (tools is None or m.tools is tools)
            and (needle is None or needle in m.full_name.lower() or needle in m.name.lower())
        )
        statuses = self.providers if wanted is None else tuple(
            p for p in self.providers if p.id in wanted)
        return ModelListing(models, statuses, self.new)


def model_sort_key(model: Model) -> tuple[str, str]:
    """The one ordering of models everywhere: provider, then model id."""
    return (model.provider_id, model.id.lower())


def sort_models(models: Iterable[Model]) -> tuple[Model, ...]:
    return tuple(sorted(models, key=model_sort_key))


def split_full_name(name: str) -> tuple[str | None, str]:
    """Split `provider/model` at the first `/`; a bare name has no provider part."""
    provider, sep, model = name.partition("/")
    return (provider, model) if sep else (None, name)
