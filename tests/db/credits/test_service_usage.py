"""Metering of the services assistants use through us (search, transcription) on PostgreSQL: the daily cap holds
under concurrent admissions, and a hold a dead process left is charged under its own service by the sweep,
never as an LLM call."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, update

from tests.harness.rows import add_user
from yourclaw.credits import repository as credits_repo
from yourclaw.credits import service_usage
from yourclaw.credits.service_usage import Admitted
from yourclaw.db.engine import driver_connection
from yourclaw.db.models import CreditLedgerEntry, CreditReservation, LlmSpendDaily, ServiceUsageDaily, UserCredits
from yourclaw.llm.reservation_sweep import settle_expired

pytestmark = pytest.mark.db


async def funded_user(sessions, millicents: int) -> uuid.UUID:
    async with sessions() as s, s.begin():
        user_id = await add_user(s)
        await credits_repo.grant(s, user_id, millicents, reference=f"grant-{user_id}")
    return user_id


async def admit(engine, user_id, *, cap: int, hold: int = 500):
    async with driver_connection(engine) as conn:
        return await service_usage.admit(conn, user_id, "search", hold_millicents=hold, units=1, daily_cap=cap)


async def test_concurrent_queries_never_pass_the_daily_cap(db, engine, sessions):
    user_id = await funded_user(sessions, 1_000_000)
    outcomes = await asyncio.gather(*(admit(engine, user_id, cap=5) for _ in range(12)))
    admitted = [o for o in outcomes if isinstance(o, Admitted)]
    assert len(admitted) == 5
    assert {o.reason for o in outcomes if not isinstance(o, Admitted)} == {"daily_cap"}
    async with sessions() as s:
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == user_id))
        credits = await s.scalar(select(UserCredits).where(UserCredits.user_id == user_id))
    assert day.units == 5 and credits.reserved_millicents == 5 * 500


async def test_a_service_hold_left_by_a_dead_process_is_charged_under_its_service(db, engine, sessions):
    user_id = await funded_user(sessions, 10_000)
    dead = await admit(engine, user_id, cap=10)
    assert isinstance(dead, Admitted)
    async with sessions() as s, s.begin():
        await s.execute(
            update(CreditReservation)
            .where(CreditReservation.reference == dead.reference)
            .values(expires_at=CreditReservation.created_at)
        )
    assert await settle_expired(engine) == 1
    assert await settle_expired(engine) == 0
    async with sessions() as s:
        ledger = (await s.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.reference == dead.reference))).all()
        llm = (await s.scalars(select(LlmSpendDaily).where(LlmSpendDaily.user_id == user_id))).all()
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == user_id))
        credits = await s.scalar(select(UserCredits).where(UserCredits.user_id == user_id))
    assert [(e.reason, e.delta_millicents) for e in ledger] == [("SEARCH", -500)]
    assert llm == []
    assert (day.calls, day.units, day.millicents) == (1, 1, 500)
    assert (credits.used_millicents, credits.reserved_millicents, credits.open_reservations) == (500, 0, 0)
