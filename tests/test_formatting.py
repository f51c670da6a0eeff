"""Numbers, prices, counts and state lines as people say them."""

from __future__ import annotations

import pytest

from forge_ipy.domain import Model, ModelListing, ProviderStatus
from forge_ipy.formatting import (
    format_count,
    format_price,
    format_tokens,
    listing_line,
    new_models,
    refresh_summary,
    state_parts,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize("count, text", [
    (131072, "128k"), (1048576, "1M"), (200000, "200k"), (8192, "8k"), (32768, "32k"),
    (128000, "128k"), (2097152, "2M"), (1000000, "1M"), (163840, "160k"), (4096, "4k"),
    (1050000, "1.05M"), (2048000, "2.05M"), (128100, "128k"), (999, "999"), (None, ""),
    (0, ""),
])
def test_token_counts_read_as_people_say_them(count, text):
    assert format_tokens(count) == text


@pytest.mark.parametrize("prices, text", [
    ((0.12, 0.3), "$0.12 / $0.30"), ((2.5, 10), "$2.50 / $10.00"),
    ((0.0375, 0.15), "$0.0375 / $0.15"), ((0, 0), "$0.00 / $0.00"),
    ((0.000001, None), "$0.000001 / ?"), ((None, None), ""),
])
def test_prices_have_two_decimals_and_more_when_tiny(prices, text):
    model = Model(provider_id="p", id="m", input_price=prices[0], output_price=prices[1])
    assert format_price(model) == text


def test_counts_are_singular_for_one():
    assert [format_count(n, "model") for n in (0, 1, 2, 2000)] == [
        "0 models", "1 model", "2 models", "2,000 models"]


def status(pid, **fields):
    return ProviderStatus(id=pid, name=pid.title(), **{"ok": True, **fields})


def test_one_compact_state_line_sets_failures_apart():
    providers = (
        status("openai"), status("anthropic"),
        status("gemini", from_cache=True, fetched_at=NOW - 300),
        status("groq", ok=False, stale=True, error_kind="unreachable",
               error="cannot reach api.groq.com"),
    )
    models = (Model(provider_id="openai", id="gpt-4o"), Model(provider_id="gemini", id="g"))
    listing = ModelListing(models, providers)
    assert state_parts(providers, NOW) == [
        ("2 fresh", False), ("1 cached 5 min ago", False),
        ("groq failed: cannot reach api.groq.com", True)]
    # "from M providers" counts the providers whose models are shown.
    assert listing_line(listing, NOW) == (
        "2 models from 2 providers · 2 fresh · 1 cached 5 min ago · "
        "groq failed: cannot reach api.groq.com")


def test_new_models_are_named_a_few_at_a_time():
    models = tuple(Model(provider_id="openai", id=f"m{i}") for i in range(8))
    listing = ModelListing(models, (status("openai"),),
                           frozenset(m.full_name for m in models[1:]))
    assert new_models(listing) == ("7 new: openai/m1, openai/m2, openai/m3, openai/m4, "
                                   "openai/m5, and 2 more")
    assert new_models(listing.filter("m7")) == "1 new: openai/m7"
    assert new_models(ModelListing(models, ())) == ""
    assert "7 new: openai/m1" in listing_line(listing, NOW)


def test_a_refresh_counts_only_the_providers_that_answered():
    ok = ProviderStatus(id="openai", name="OpenAI", ok=True, model_count=1)
    failed = ProviderStatus(id="groq", name="Groq", ok=False, error_kind="unreachable",
                            error="cannot reach api.groq.com")
    model = Model(provider_id="openai", id="gpt-4o")
    assert refresh_summary(ModelListing((model,), (ok,))) == "Refreshed 1 provider, 1 model."
    assert refresh_summary(ModelListing((model,), (ok, failed))) == \
        "Refreshed 1 of 2 providers, 1 model."
    assert refresh_summary(ModelListing((), (failed,))) == "Refreshed 0 of 1 providers, 0 models."
