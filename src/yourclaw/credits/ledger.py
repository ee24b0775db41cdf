"""The credits ledger's figures and rules: integer millicents, shown to users in cents (rounded down);
`decide` is the one rule of whether a user may spend on the shared LLM key. Its SQL is `repository`."""

from __future__ import annotations

from dataclasses import dataclass

MILLICENTS_PER_CENT = 1000


def to_cents(millicents: int) -> int:
    """Users never see more than they have: round down."""
    return millicents // MILLICENTS_PER_CENT


@dataclass(frozen=True)
class Balance:
    total_millicents: int
    used_millicents: int

    @property
    def remaining_millicents(self) -> int:
        return max(0, self.total_millicents - self.used_millicents)

    @property
    def remaining_cents(self) -> int:
        return to_cents(self.remaining_millicents)

    @property
    def total_cents(self) -> int:
        return to_cents(self.total_millicents)


@dataclass(frozen=True)
class SpendDecision:
    allowed: bool
    own_key: bool
    remaining_millicents: int


def decide(*, own_key: bool, current: Balance) -> SpendDecision:
    """An own key means unlimited (the user pays Anthropic); otherwise some credit must remain. Calls
    already in flight are not counted, so overdraw is bounded by them (their cost is charged exactly)."""
    if own_key:
        return SpendDecision(allowed=True, own_key=True, remaining_millicents=0)
    return SpendDecision(
        allowed=current.remaining_millicents > 0,
        own_key=False,
        remaining_millicents=current.remaining_millicents,
    )


def is_low(current: Balance, percent: int) -> bool:
    """Some credit left, but no more than `percent` of the period's allowance."""
    remaining = current.remaining_millicents
    return current.total_millicents > 0 and 0 < remaining * 100 <= current.total_millicents * percent
