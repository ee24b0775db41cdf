"""The credits ledger on PostgreSQL: grants and charges once per reference, the spend decision, the period
reset, and concurrent charges all counted."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.rows import add_user
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import ApiKey, User

pytestmark = pytest.mark.db


async def test_credits_grant_charge_and_decision(db):
    user_id = await add_user(db)
    assert not (await credits_repo.spend_decision(db, user_id)).allowed
    assert await credits_repo.grant(db, user_id, 1_000_000, reference="invoice:in_1")
    assert not await credits_repo.grant(db, user_id, 1_000_000, reference="invoice:in_1")  # idempotent
    assert (await credits_repo.balance(db, user_id)).remaining_cents == 1000

    after = await credits_repo.charge(db, user_id, 1_800, reference="llm:req_1")
    assert after.used_millicents == 1_800 and after.remaining_cents == 998
    assert await credits_repo.charge(db, user_id, 1_800, reference="llm:req_1") is None  # charged once
    assert (await credits_repo.spend_decision(db, user_id)).allowed

    await credits_repo.charge(db, user_id, 2_000_000, reference="llm:req_2")
    decision = await credits_repo.spend_decision(db, user_id)
    assert not decision.allowed and decision.remaining_millicents == 0

    db.add(ApiKey(user_id=user_id, encrypted_key="x", key_hint="abcd"))
    await db.flush()
    decision = await credits_repo.spend_decision(db, user_id)
    assert decision.allowed and decision.own_key


async def test_period_reset_sets_the_allowance(db):
    user_id = await add_user(db)
    await credits_repo.grant(db, user_id, 500_000, reference="g")
    await credits_repo.charge(db, user_id, 400_000, reference="c")
    assert await credits_repo.reset_period(db, user_id, 1_000_000, reference="period:2026-12")
    assert not await credits_repo.reset_period(db, user_id, 1_000_000, reference="period:2026-12")
    assert (await credits_repo.balance(db, user_id)).remaining_cents == 1000


async def test_concurrent_charges_are_all_counted(sessions):
    async with sessions() as db, db.begin():
        user_id = await add_user(db)
        await credits_repo.grant(db, user_id, 1_000_000, reference="g")

    async def charge(i: int) -> None:
        async with sessions() as db, db.begin():
            await credits_repo.charge(db, user_id, 1_000, reference=f"llm:{i}")

    await asyncio.gather(*(charge(i) for i in range(20)))
    async with sessions() as db:
        assert (await credits_repo.balance(db, user_id)).used_millicents == 20_000
        await db.execute(User.__table__.delete().where(User.id == user_id))
        await db.commit()
