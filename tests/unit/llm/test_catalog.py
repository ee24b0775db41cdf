"""The model catalogue: what is offered, what a retired choice runs, and exact prices."""

from __future__ import annotations

import pytest

from yourclaw.llm import catalog

pytestmark = pytest.mark.unit


def test_every_offered_model_has_a_price():
    for model in catalog.MODELS:
        upstream = model.id.removeprefix("anthropic/")
        assert catalog.prices_for(upstream) is not None, model.id
    assert catalog.DEFAULT_MODEL == "anthropic/claude-sonnet-5"
    assert catalog.is_offered("anthropic/claude-haiku-4-5") and not catalog.is_offered("gpt-4")


def test_a_retired_choice_runs_its_successor():
    assert not catalog.is_offered("anthropic/claude-sonnet-4-6")
    assert catalog.current_model("anthropic/claude-sonnet-4-6") == "anthropic/claude-sonnet-5"
    assert catalog.current_model("anthropic/claude-haiku-4-5") == "anthropic/claude-haiku-4-5"
    assert all(successor in catalog.MODEL_IDS for successor in catalog.RETIRED_MODELS.values())


def test_cost_is_exact_integer_millicents_rounded_up():
    # Sonnet: $3 / MTok in, $15 / MTok out -> 0.3 and 1.5 millicents per token.
    assert catalog.cost_millicents("claude-sonnet-4-6", input_tokens=1000, output_tokens=1000) == 1800
    assert catalog.cost_millicents("claude-sonnet-4-6", input_tokens=1, output_tokens=0) == 1
    assert catalog.cost_millicents("claude-haiku-4-5-20251001", input_tokens=1000, output_tokens=0) == 100
    cached = catalog.cost_millicents(
        "claude-sonnet-4-6", input_tokens=0, output_tokens=0, cache_read_tokens=10_000, cache_creation_tokens=1000
    )
    assert cached == 300 + 375
    # An unknown model is never free.
    assert catalog.cost_millicents("claude-unknown", input_tokens=1000, output_tokens=0) > 0


def test_one_hour_cache_writes_and_web_searches_are_priced():
    # Sonnet 4.6: 1-hour cache writes at 2x input (0.6 millicents a token), a web search 1 cent.
    one_hour = catalog.cost_millicents(
        "claude-sonnet-4-6", input_tokens=0, output_tokens=0, cache_creation_tokens=1000, cache_creation_1h_tokens=1000
    )
    assert one_hour == 600
    searched = catalog.cost_millicents(
        "claude-sonnet-4-6", input_tokens=0, output_tokens=0, server_tool_requests={"web_search_requests": 50}
    )
    assert searched == 50_000


def test_an_unknown_model_gets_the_largest_limits_and_the_dearest_prices():
    assert catalog.limits_for("claude-haiku-4-5-20251001").max_output == 64_000
    unknown = catalog.limits_for("claude-mystery")
    assert unknown.max_output == max(limit.max_output for limit in catalog.LIMITS.values())
    assert catalog.priced("claude-mystery").output == max(p.output for p in catalog.PRICES.values())
