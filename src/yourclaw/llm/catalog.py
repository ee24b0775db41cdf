"""The models users may choose, and per-token prices keyed by the upstream model id the proxy sees.

Prices are integer millicents per million tokens (1 USD = 100,000 millicents), so a charge is exact
integer arithmetic, rounded up per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec


class ModelOption(msgspec.Struct, frozen=True):
    id: str  # what OpenClaw's config names (agents.defaults.model.primary)
    label: str
    summary: str  # the one-line trade-off shown beside it


@dataclass(frozen=True)
class TokenPrices:
    input: int
    output: int
    cache_write: int  # 5-minute cache
    cache_read: int
    cache_write_1h: int

    @property
    def dearest_input(self) -> int:
        """What one input token can cost at most: every input token may be written to the 1-hour cache."""
        return max(self.input, self.cache_write, self.cache_write_1h)


def _usd_per_mtok(input: float, output: float) -> TokenPrices:
    # Anthropic bills 5-minute cache writes at 1.25x input, 1-hour ones at 2x, cache reads at 0.1x input.
    per = 100_000  # millicents per USD
    return TokenPrices(
        input=round(input * per),
        output=round(output * per),
        cache_write=round(input * 1.25 * per),
        cache_read=round(input * 0.1 * per),
        cache_write_1h=round(input * 2 * per),
    )


@dataclass(frozen=True)
class ModelLimits:
    context_window: int  # input tokens a request may hold (without the long-context beta, which we strip)
    max_output: int  # the largest max_tokens the model accepts


# Server tools Anthropic bills per use, in millicents: web search is $10 per 1,000 searches; web fetch
# costs only the tokens it adds. Shared-key calls may not declare server tools at all (`call_bounds`), so
# these price only what an own-key call used, for its record.
SERVER_TOOL_PRICES = {"web_search_requests": 1_000, "web_fetch_requests": 0}


# Ids the pinned OpenClaw's anthropic catalog lists as current (openclaw 2026.9.6: its bundled anthropic
# plugin manifest, `modelCatalog.providers.anthropic`); tests/e2e/runtime/test_openclaw_config.py validates a config
# rendered with each. Change them together with the pinned version (infra/image/versions.env).
MODELS: tuple[ModelOption, ...] = (
    ModelOption(
        id="anthropic/claude-sonnet-5",
        label="Claude Sonnet 5",
        summary="Fast and capable: the best balance for everyday help (default)",
    ),
    ModelOption(
        id="anthropic/claude-opus-5",
        label="Claude Opus 5",
        summary="Most capable for hard, multi-step tasks; uses credits about 2.5x faster",
    ),
    ModelOption(
        id="anthropic/claude-haiku-4-5",
        label="Claude Haiku 4.5",
        summary="Quickest replies and lightest on credits; less depth on complex requests",
    ),
)
DEFAULT_MODEL = MODELS[0].id
MODEL_IDS = frozenset(m.id for m in MODELS)

# Ids users could pick before, and what an assistant still set to one of them now runs: the pinned OpenClaw
# no longer lists them, and a config naming an unknown model would leave the assistant unable to answer.
RETIRED_MODELS: dict[str, str] = {
    "anthropic/claude-sonnet-4-6": "anthropic/claude-sonnet-5",
    "anthropic/claude-opus-4-6": "anthropic/claude-opus-5",
}

PRICES: dict[str, TokenPrices] = {
    "claude-sonnet-5": _usd_per_mtok(2.00, 10.00),
    "claude-opus-5": _usd_per_mtok(5.00, 25.00),
    "claude-haiku-4-5": _usd_per_mtok(1.00, 5.00),
    # Retired from the picker, still priced: calls made before a config rewrite took effect.
    "claude-sonnet-4-6": _usd_per_mtok(3.00, 15.00),
    "claude-opus-4-6": _usd_per_mtok(5.00, 25.00),
}


# The pinned OpenClaw's catalog (its anthropic plugin manifest): the 5-series take a 1M-token context natively.
LIMITS: dict[str, ModelLimits] = {
    "claude-sonnet-5": ModelLimits(context_window=1_000_000, max_output=128_000),
    "claude-opus-5": ModelLimits(context_window=1_000_000, max_output=128_000),
    "claude-haiku-4-5": ModelLimits(context_window=200_000, max_output=64_000),
    "claude-sonnet-4-6": ModelLimits(context_window=200_000, max_output=128_000),
    "claude-opus-4-6": ModelLimits(context_window=200_000, max_output=128_000),
}
# The cheapest model offered: what the assistant's own background work (heartbeats, memory) runs on.
BACKGROUND_MODEL = "anthropic/claude-haiku-4-5"


def is_offered(model_id: str) -> bool:
    return model_id in MODEL_IDS


def current_model(model_id: str) -> str:
    """The id to run for a stored choice: a retired one maps to its successor, anything else is kept."""
    return RETIRED_MODELS.get(model_id, model_id)


def _known(upstream_model: str) -> str | None:
    """Upstream ids may carry a date suffix (claude-haiku-4-5-20251001); the longest known prefix wins."""
    for key in sorted(PRICES, key=len, reverse=True):
        if upstream_model == key or upstream_model.startswith(key + "-"):
            return key
    return None


def metric_label(upstream_model: str) -> str:
    """A model as the metrics name it: one of ours, or "other", so a caller's made-up name adds no series."""
    return _known(upstream_model) or "other"


def prices_for(upstream_model: str) -> TokenPrices | None:
    known = _known(upstream_model)
    return PRICES[known] if known else None


def dearest_prices() -> TokenPrices:
    """How an unknown model is priced: never cheaper than any model we know."""
    return max(PRICES.values(), key=lambda p: p.output)


def priced(upstream_model: str) -> TokenPrices:
    return prices_for(upstream_model) or dearest_prices()


def limits_for(upstream_model: str) -> ModelLimits:
    """An unknown model gets the largest limits known, so its worst case is never underestimated."""
    known = _known(upstream_model)
    if known and known in LIMITS:
        return LIMITS[known]
    return ModelLimits(
        context_window=max(limit.context_window for limit in LIMITS.values()),
        max_output=max(limit.max_output for limit in LIMITS.values()),
    )


def cost_millicents(
    upstream_model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_creation_1h_tokens: int = 0,
    server_tool_requests: dict[str, int] | None = None,
) -> int:
    """Exact cost of one call, rounded up to a whole millicent. Unknown models cost as the dearest.
    `cache_creation_tokens` is every cache write; `cache_creation_1h_tokens` the part of it written to
    the 1-hour cache, priced at its own rate."""
    prices = priced(upstream_model)
    one_hour = min(cache_creation_1h_tokens, cache_creation_tokens)
    total = (
        input_tokens * prices.input
        + output_tokens * prices.output
        + (cache_creation_tokens - one_hour) * prices.cache_write
        + one_hour * prices.cache_write_1h
        + cache_read_tokens * prices.cache_read
    )
    tools = sum(SERVER_TOOL_PRICES.get(name, 0) * count for name, count in (server_tool_requests or {}).items())
    return math.ceil(total / 1_000_000) + tools
