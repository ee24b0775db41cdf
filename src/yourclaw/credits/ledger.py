"""The credits ledger: integer millicents, changed only by atomic SQL, shown to users in cents.

`spend_decision` is the one place that says whether a user may spend on the shared LLM key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import ApiKey, CreditLedgerEntry, UserCredits

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


async def balance(session: AsyncSession, user_id: uuid.UUID) -> Balance:
    row = (
        await session.execute(
            select(UserCredits.total_millicents, UserCredits.used_millicents).where(UserCredits.user_id == user_id)
        )
    ).first()
    return Balance(row[0], row[1]) if row else Balance(0, 0)


async def has_own_key(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return (await session.scalar(select(ApiKey.id).where(ApiKey.user_id == user_id).limit(1))) is not None


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


async def spend_decision(session: AsyncSession, user_id: uuid.UUID) -> SpendDecision:
    if await has_own_key(session, user_id):
        return decide(own_key=True, current=Balance(0, 0))
    return decide(own_key=False, current=await balance(session, user_id))


def is_low(current: Balance, percent: int) -> bool:
    """Some credit left, but no more than `percent` of the period's allowance."""
    remaining = current.remaining_millicents
    return current.total_millicents > 0 and 0 < remaining * 100 <= current.total_millicents * percent


async def _record(session: AsyncSession, user_id: uuid.UUID, delta: int, reason: str, reference: str) -> bool:
    """The ledger row is the idempotency guard: the same reference applies once."""
    inserted = await session.scalar(
        insert(CreditLedgerEntry)
        .values(user_id=user_id, delta_millicents=delta, reason=reason, reference=reference)
        .on_conflict_do_nothing(index_elements=[CreditLedgerEntry.user_id, CreditLedgerEntry.reference])
        .returning(CreditLedgerEntry.id)
    )
    return inserted is not None


async def grant(session: AsyncSession, user_id: uuid.UUID, millicents: int, *, reference: str) -> bool:
    """Add credit (a new period's allowance, say); False when this reference was already applied."""
    if millicents <= 0:
        raise ValueError("a grant must be positive")
    if not await _record(session, user_id, millicents, "GRANT", reference):
        return False
    await session.execute(
        insert(UserCredits)
        .values(user_id=user_id, total_millicents=millicents)
        .on_conflict_do_update(
            index_elements=[UserCredits.user_id],
            set_={"total_millicents": UserCredits.total_millicents + millicents},
        )
    )
    return True


async def reset_period(session: AsyncSession, user_id: uuid.UUID, millicents: int, *, reference: str) -> bool:
    """Start a billing period: the allowance becomes `millicents`, nothing used yet."""
    current = await balance(session, user_id)
    if not await _record(session, user_id, millicents - current.remaining_millicents, "RESET", reference):
        return False
    await session.execute(
        insert(UserCredits)
        .values(user_id=user_id, total_millicents=millicents, used_millicents=0)
        .on_conflict_do_update(
            index_elements=[UserCredits.user_id], set_={"total_millicents": millicents, "used_millicents": 0}
        )
    )
    return True


async def charge(session: AsyncSession, user_id: uuid.UUID, millicents: int, *, reference: str) -> Balance | None:
    """Record spend exactly (it already happened upstream, so it may go past zero in `used`);
    None when this reference was charged before."""
    if millicents < 0:
        raise ValueError("a charge cannot be negative")
    if not await _record(session, user_id, -millicents, "LLM_USAGE", reference):
        return None
    row = (
        await session.execute(
            update(UserCredits)
            .where(UserCredits.user_id == user_id)
            .values(used_millicents=UserCredits.used_millicents + millicents)
            .returning(UserCredits.total_millicents, UserCredits.used_millicents)
        )
    ).first()
    if row is None:
        await session.execute(insert(UserCredits).values(user_id=user_id, used_millicents=millicents))
        return Balance(0, millicents)
    return Balance(row[0], row[1])
