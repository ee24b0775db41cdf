"""The credits ledger's SQL: every change is one atomic statement guarded by its ledger row's reference,
so applying the same grant, reset or charge twice changes nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.credits.ledger import Balance, SpendDecision, decide
from yourclaw.db.models import ApiKey, CreditLedgerEntry, UserCredits


async def balance(session: AsyncSession, user_id: uuid.UUID) -> Balance:
    row = (
        await session.execute(
            select(UserCredits.total_millicents, UserCredits.used_millicents).where(UserCredits.user_id == user_id)
        )
    ).first()
    return Balance(row[0], row[1]) if row else Balance(0, 0)


async def has_own_key(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """An own key is a way of paying (the user pays the provider), so the ledger's decision reads it."""
    return (await session.scalar(select(ApiKey.id).where(ApiKey.user_id == user_id).limit(1))) is not None


async def spend_decision(session: AsyncSession, user_id: uuid.UUID) -> SpendDecision:
    if await has_own_key(session, user_id):
        return decide(own_key=True, current=Balance(0, 0))
    return decide(own_key=False, current=await balance(session, user_id))


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
