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


def is_offered(model_id: str) -> bool:
    return model_id in MODEL_IDS


def current_model(model_id: str) -> str:
    """The id to run for a stored choice: a retired one maps to its successor, anything else is kept."""
    return RETIRED_MODELS.get(model_id, model_id)


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
