"""The data forge-ipy passes between layers: models, provider states, the selection.

Data only: no I/O, and nothing of ours is imported here. A `Model` carries its
`provider_id` from the moment a wire module parses it, so nothing downstream guesses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

ErrorKind = Literal["auth", "timeout", "unreachable", "http", "bad_response", "too_large"]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)
# What a model is (DESIGN.md "Model facts"). Plain strings in `Model`, so a cache file or a
# catalog with a kind this version does not know loses that field, not the whole list.
MODEL_KINDS = ("chat", "completion", "embedding", "image", "audio", "moderation", "other")
MODEL_STATUSES = ("deprecated", "retired")
FACT_SOURCES = ("provider", "gateway", "catalog")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Model(_Frozen):
    """One model offered by one provider. Prices are USD per million tokens."""

    provider_id: str
    id: str
    name: str = ""
    context_length: int | None = None
    max_output_tokens: int | None = None
    tools: bool | None = None
    input_price: float | None = None
    output_price: float | None = None
    input_modalities: tuple[str, ...] = ()
    created: int | None = None
    # Model facts (DESIGN.md): None where no source said. `kind` is one of MODEL_KINDS
    # once a listing is built; a wire module leaves it None when the provider gives no signal.
    kind: str | None = None
    reasoning: bool | None = None
    output_modalities: tuple[str, ...] = ()
    cache_read_price: float | None = None
    knowledge: str | None = None  # training cut-off, as the source writes it ("2024-06")
    release_date: str | None = None
    status: str | None = None  # None, "deprecated" or "retired"
    facts_from: tuple[str, ...] = ()  # which of FACT_SOURCES filled any field

    @property
    def full_name(self) -> str:
        """`provider/model`: split at the first `/`, since OpenRouter ids contain `/`."""
        return f"{self.provider_id}/{self.id}"

    @property
    def listed_by_default(self) -> bool:
        """Shown without `--all`: a chat model (or one nothing says otherwise of), not retired."""
        return self.kind in (None, "chat") and self.status != "retired"


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
