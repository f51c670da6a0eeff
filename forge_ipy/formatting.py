"""The one place that turns models and provider states into short text.

Every frontend (tables, the picker, the terminal chooser, the CLI) uses these, so a model
reads the same everywhere: `gpt-4o  128k  tools`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .domain import Model, ModelListing, ProviderStatus
from .text import printable

# Provider text is cut to these lengths in text, so one huge id or message cannot pad every
# row of a table to megabytes; JSON output keeps the whole value.
CELL_CHARS = 60
MESSAGE_CHARS = 300

if TYPE_CHECKING:
    from .accounts import ProviderRow


def format_tokens(count: int | None) -> str:
    """Token counts as people say them: 131072 -> '128k', 1048576 -> '1M', 200000 -> '200k',
    128000 -> '128k'; '' when unknown.

    Context windows come in powers of two (131072) or round thousands (200000): the unit
    (1000 or 1024) that gives a short exact number wins; otherwise three significant digits.
    """
    if not count:
        return ""
    fallback = ""
    for base in (1000, 1024):
        for unit, size in (("M", base * base), ("k", base)):
            value = count / size
            if value < 1 or (unit == "k" and value >= 1000):
                continue
            text = f"{value:g}"
            if value == round(value, 2) and len(text.replace(".", "")) <= 3:
                return f"{text}{unit}"
            if not fallback:
                fallback = f"{value:.3g}{unit}" if value < 1000 else f"{value:.0f}{unit}"
    return fallback or str(count)


def format_tools(tools: bool | None) -> str:
    return {True: "tools", False: "no tools", None: ""}[tools]


def format_usd(price: float) -> str:
    """`$0.30`, `$15.00`, `$0.0375`: two decimals at least, more when a tiny price needs them."""
    decimals = 2 if price <= 0 else max(2, min(10, 3 - math.floor(math.log10(price))))
    text = f"{price:.{decimals}f}"
    if "." in text:
        whole, fraction = text.split(".")
        text = f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"
    return f"${text}"


def format_reasoning(reasoning: bool | None) -> str:
    """`reasoning` for a model that thinks before it answers; '' otherwise or when unknown."""
    return "reasoning" if reasoning else ""


def format_price(model: Model) -> str:
    """`$0.12 / $0.30` per million tokens in / out; '' when unknown."""
    if model.input_price is None and model.output_price is None:
        return ""
    def one(price: float | None) -> str:
        return "?" if price is None else format_usd(price)
    return f"{one(model.input_price)} / {one(model.output_price)}"


def format_model_line(model: Model) -> str:
    """`o3  200k  tools  reasoning  $2 / $8`: id, context window, tools and reasoning marks,
    price in / out per million tokens, `deprecated` or `retired` (unknown parts left out)."""
    parts = [printable(model.id, CELL_CHARS), format_tokens(model.context_length),
             format_tools(model.tools), format_reasoning(model.reasoning), format_price(model),
             model.status or ""]
    return "  ".join(part for part in parts if part)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def format_status(status: ProviderStatus, now: float) -> str:
    """`fresh`, `cached 5 min ago`, `failed: HTTP 401 …`, `stale (12 min old): timeout …`."""
    age = format_age(status.age_seconds(now))
    error = printable(status.error, MESSAGE_CHARS) if status.error else ""
    if error and status.model_count:
        return f"stale, cached {age}; refresh failed: {error}"
    if error:
        return f"failed: {error}"
    if status.stale:
        return f"cached {age}, refreshing"
    if status.from_cache:
        return f"cached {age}"
    return "fresh"


def format_count(n: int, noun: str) -> str:
    """`1 model`, `2 models`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def models_summary(listing: ModelListing) -> str:
    """`N models from M providers`, counting the providers whose models are shown."""
    shown = len({m.provider_id for m in listing.models})
    return f"{format_count(len(listing), 'model')} from {format_count(shown, 'provider')}"


def state_parts(providers: Sequence[ProviderStatus], now: float) -> list[tuple[str, bool]]:
    """The providers' states as one compact line's parts, each with whether it is a failure:
    `10 fresh`, `1 cached 5 min ago`, `groq failed: cannot reach …`."""
    parts = []
    ok = [p for p in providers if not p.error]
    fresh = sum(not p.from_cache and not p.stale for p in ok)
    cached = [p for p in ok if p.from_cache and not p.stale]
    refreshing = sum(p.stale for p in ok)
    if fresh:
        parts.append((f"{fresh} fresh", False))
    if cached:
        oldest = max(p.age_seconds(now) or 0.0 for p in cached)
        label = "cached" if len(cached) == 1 else "cached, oldest"
        parts.append((f"{len(cached)} {label} {format_age(oldest)}", False))
    if refreshing:
        parts.append((f"{refreshing} cached, refreshing", False))
    parts.extend((f"{p.id} {format_status(p, now)}", True) for p in providers if p.error)
    return parts


def listing_line(listing: ModelListing, now: float) -> str:
    """`2,000 models from 11 providers · 10 fresh · 1 cached 5 min ago · groq failed: …`"""
    added = new_models(listing)
    return " · ".join([models_summary(listing), *([added] if added else []),
                       *(text for text, _ in state_parts(listing.providers, now))])


def cleared_summary(cleared: Sequence[str]) -> str:
    """`Cleared 1 cached provider list.`"""
    return f"Cleared {format_count(len(cleared), 'cached provider list')}."


def refresh_summary(listing: ModelListing) -> str:
    """`Refreshed 3 providers, 120 models.` (`Refreshed 2 of 3 providers` when some failed:
    their states follow), and which models are new on a second line."""
    done = sum(p.ok for p in listing.providers)
    asked = len(listing.providers)
    who = format_count(done, "provider") if done == asked else f"{done} of {asked} providers"
    text = (f"Refreshed {who}, "
            f"{format_count(len(listing), 'model')}.")
    added = new_models(listing)
    return f"{text}\n{added}" if added else text


def new_models(listing: ModelListing, most: int = 5) -> str:
    """`3 new: openai/gpt-5, …` for the models a refresh brought; '' when none are shown."""
    names = sorted(n for n in (m.full_name for m in listing.models) if n in listing.new)
    if not names:
        return ""
    more = f", and {len(names) - most} more" if len(names) > most else ""
    return f"{len(names)} new: {', '.join(names[:most])}{more}"


PROVIDER_COLUMNS = ["id", "name", "logged in", "credential from", "API root", "state"]


def format_providers(rows: Sequence[ProviderRow], now: float) -> str:
    """The provider table of `forge-ipy providers` and `%forge_providers`."""
    return format_table(PROVIDER_COLUMNS, [
        [r.id, r.name, r.logged_in_text, r.key_source, r.api_root,
         format_status(r.status, now) if r.status else "not fetched" if r.logged_in else ""]
        for r in rows], widest=None)  # an API root is shown whole


def providers_json(rows: Sequence[ProviderRow], now: float) -> list[dict[str, object]]:
    """`forge-ipy providers --json`: one object a provider; `state` as in the table, or null."""
    return [{"id": r.id, "name": r.name, "logged_in": r.logged_in,
             "when_running": r.when_running, "key_source": r.key_source,
             "api_root": r.api_root, "state": format_status(r.status, now) if r.status else None}
            for r in rows]


def format_table(headers: list[str], rows: list[list[str]],
                 widest: int | None = CELL_CHARS) -> str:
    """Rows as aligned text columns under a header (two spaces between columns), every cell
    made printable and cut to `widest` characters (None: whole)."""
    table = [[printable(cell, widest) for cell in row] for row in (headers, *rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


MODEL_COLUMNS = ["provider", "model", "context", "tools", "reasoning", "price in / out per 1M"]
# `--all` lists every kind of model, with a column saying which.
MODEL_COLUMNS_ALL = [*MODEL_COLUMNS[:2], "kind", *MODEL_COLUMNS[2:]]


def model_row(model: Model, all_kinds: bool = False) -> list[str]:
    """A model as the cells of `MODEL_COLUMNS` (`MODEL_COLUMNS_ALL` with `all_kinds`), for
    every text table."""
    kind = [format_kind(model)] if all_kinds else []
    return [model.provider_id, model.id, *kind, format_tokens(model.context_length),
            format_tools(model.tools), format_reasoning(model.reasoning), format_price(model)]


def format_kind(model: Model) -> str:
    """`chat`, `embedding`, ..., with `(retired)` or `(deprecated)` where it applies."""
    kind = model.kind or "chat"
    return f"{kind} ({model.status})" if model.status else kind


def listing_json(listing: ModelListing, now: float) -> dict[str, object]:
    """The `forge-ipy models --json` document (DESIGN.md "Outputs that others parse")."""
    providers = []
    for status in listing.providers:
        row = status.model_dump(mode="json", exclude={"fetched_at"})
        age = status.age_seconds(now)
        row["age_seconds"] = None if age is None else round(age, 1)
        providers.append(row)
    return {"models": [m.model_dump(mode="json") for m in listing.models],
            "providers": providers}


# New columns go at the end: scripts read the first ones by position.
PORCELAIN_COLUMNS = ["provider", "model", "context_length", "max_output_tokens", "tools",
                     "input_price", "output_price", "kind", "reasoning", "cache_read_price",
                     "status", "input_modalities", "output_modalities", "knowledge",
                     "release_date", "facts_from"]


def porcelain_lines(listing: ModelListing) -> list[str]:
    """Tab-separated rows under a header; unknown values are empty."""
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            value = ",".join(value)
        return printable(value)  # a tab or newline in an id never forges a field or a row
    rows = ["\t".join(PORCELAIN_COLUMNS)]
    for m in listing.models:
        values = (m.provider_id, m.id, m.context_length, m.max_output_tokens, m.tools,
                  m.input_price, m.output_price, m.kind, m.reasoning, m.cache_read_price,
                  m.status, m.input_modalities, m.output_modalities, m.knowledge,
                  m.release_date, m.facts_from)
        rows.append("\t".join(cell(v) for v in values))
    return rows


_COUNTERS = ("hits", "misses", "stale_serves", "refreshes", "errors")


def _counts(counters: dict[str, object]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {counters.get(name, 0)}" for name in _COUNTERS)


def format_cache_stats(stats: dict[str, Any], now: float, process: str | None) -> str:
    """`forge-ipy cache stats` and `%forge_cache`: the file, the counters, each entry.

    `process` names this process's own counters ("this kernel"), or None to leave them out.
    """
    file = stats["file"]
    size = "absent" if file["bytes"] is None else f"{file['bytes']} bytes"
    lines = [f"file: {file['path']} ({size})"]
    totals = stats.get("all_processes") or {}
    since = f"since {format_age(now - totals['since'])}" if "since" in totals else "so far"
    lines.append(f"all processes, counted {since}: {_counts(totals)}")
    if process:
        lines.append(f"{process}: {_counts(stats)}")
    rows = [[p["id"], str(p["models"]), str(p["bytes"]), format_age(p["age_seconds"])]
            for p in stats["providers"]]
    lines.append(format_table(["provider", "models", "bytes", "fetched"], rows)
                 if rows else "no cached lists")
    return "\n".join(lines)
