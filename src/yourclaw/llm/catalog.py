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
    cache_write: int
    cache_read: int


def _usd_per_mtok(input: float, output: float) -> TokenPrices:
    # Anthropic bills 5-minute cache writes at 1.25x input and cache reads at 0.1x input.
    per = 100_000  # millicents per USD
    return TokenPrices(
        input=round(input * per),
        output=round(output * per),
        cache_write=round(input * 1.25 * per),
        cache_read=round(input * 0.1 * per),
    )


MODELS: tuple[ModelOption, ...] = (
    ModelOption(
        id="anthropic/claude-sonnet-4-6",
        label="Claude Sonnet 4.6",
        summary="Fast and capable: the best balance for everyday help (default)",
    ),
    ModelOption(
        id="anthropic/claude-opus-4-6",
        label="Claude Opus 4.6",
        summary="Most capable for hard, multi-step tasks; uses credits about 1.7x faster",
    ),
    ModelOption(
        id="anthropic/claude-haiku-4-5",
        label="Claude Haiku 4.5",
        summary="Quickest replies and lightest on credits; less depth on complex requests",
    ),
)
DEFAULT_MODEL = MODELS[0].id
MODEL_IDS = frozenset(m.id for m in MODELS)

PRICES: dict[str, TokenPrices] = {
    "claude-sonnet-4-6": _usd_per_mtok(3.00, 15.00),
    "claude-opus-4-6": _usd_per_mtok(5.00, 25.00),
    "claude-haiku-4-5": _usd_per_mtok(1.00, 5.00),
}


def is_offered(model_id: str) -> bool:
    return model_id in MODEL_IDS


def prices_for(upstream_model: str) -> TokenPrices | None:
    """Upstream ids may carry a date suffix (claude-haiku-4-5-20251001); the longest known prefix wins."""
    for key in sorted(PRICES, key=len, reverse=True):
        if upstream_model == key or upstream_model.startswith(key + "-"):
            return PRICES[key]
    return None


def cost_millicents(
    upstream_model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> int:
    """Exact cost of one call, rounded up to a whole millicent. Unknown models cost as the dearest."""
    prices = prices_for(upstream_model) or max(PRICES.values(), key=lambda p: p.output)
    total = (
        input_tokens * prices.input
        + output_tokens * prices.output
        + cache_creation_tokens * prices.cache_write
        + cache_read_tokens * prices.cache_read
    )
    return math.ceil(total / 1_000_000)
