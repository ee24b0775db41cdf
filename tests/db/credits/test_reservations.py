"""Credit reservations on PostgreSQL: concurrent holds never pass the allowance nor the limit of open calls,
a settlement charges exactly once and gives the rest back (and still charges when its hold was lost), a quick
hold commits without waiting for the WAL flush, and a reservation left by a dead process is charged in full by
the sweep."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.harness.rows import add_user, credit_figures
from yourclaw.credits import repository as credits_repo
from yourclaw.credits import reservations
from yourclaw.db.engine import driver_connection
from yourclaw.db.models import CreditLedgerEntry, CreditReservation, LlmSpendDaily, UsageDaily
from yourclaw.llm.reservation_sweep import settle_expired

pytestmark = pytest.mark.db

TTL = timedelta(minutes=3)


async def funded_user(sessions, millicents: int) -> uuid.UUID:
    async with sessions() as s, s.begin():
        user_id = await add_user(s)
        if millicents:
            await credits_repo.grant(s, user_id, millicents, reference=f"grant-{user_id}")
    return user_id


async def reserve(
    engine: AsyncEngine, user_id: uuid.UUID, amount: int, *, own_key=False, max_open=100, ttl=TTL, durable=False
):
    """A hold as the LLM proxy makes it (not waiting for its WAL flush) unless `durable`."""
    reference = f"llm:{uuid.uuid4().hex}"
    async with driver_connection(engine) as conn:
        refusal = await reservations.reserve(
            conn, user_id, reference, amount, own_key=own_key, max_open=max_open, ttl=ttl, durable=durable
        )
    return reference, refusal


async def settle(engine: AsyncEngine, user_id: uuid.UUID, costs: list[tuple[str, int]], *, own_key=False):
    charges = [reservations.Charge(reference, user_id, own_key, cost) for reference, cost in costs]
    async with driver_connection(engine) as conn:
        return await reservations.settle_many(conn, charges)


async def test_concurrent_holds_of_random_sizes_never_pass_the_allowance(db, engine, sessions):
    allowance = 100_000
    user_id = await funded_user(sessions, allowance)
    rng = random.Random(7)
    amounts = [rng.randint(1, 20_000) for _ in range(60)]
    results = await asyncio.gather(*(reserve(engine, user_id, a) for a in amounts))
    kept = [(ref, amount) for (ref, refusal), amount in zip(results, amounts, strict=True) if refusal is None]
    refused = [refusal for _, refusal in results if refusal is not None]
    assert kept and refused
    assert sum(amount for _, amount in kept) <= allowance
    total, used, reserved, open_now = await credit_figures(sessions, user_id)
    assert (total, used, reserved, open_now) == (allowance, 0, sum(a for _, a in kept), len(kept))
    # Every refusal saw too little left for what it asked.
    assert all(not r.busy and r.free_millicents < max(amounts) for r in refused)

    # Each call costs a random part of its hold: the sum charged stays within the allowance.
    costs = [(ref, rng.randint(0, amount)) for ref, amount in kept]
    settled, balances = await settle(engine, user_id, costs)
    assert len(settled) == len(kept)
    total, used, reserved, open_now = await credit_figures(sessions, user_id)
    assert (used, reserved, open_now) == (sum(c for _, c in costs), 0, 0)
    assert used <= total
    assert balances[user_id].used_millicents == used


async def test_no_more_than_the_limit_are_open_at_once_own_key_or_not(db, engine, sessions):
    user_id = await funded_user(sessions, 0)  # an own key: no allowance, not even a balance row yet
    results = await asyncio.gather(*(reserve(engine, user_id, 0, own_key=True, max_open=4) for _ in range(12)))
    opened = [ref for ref, refusal in results if refusal is None]
    busy = [refusal for _, refusal in results if refusal is not None]
    assert len(opened) == 4 and len(busy) == 8
    assert all(r.busy and r.open_reservations == 4 for r in busy)
    await settle(engine, user_id, [(opened[0], 123)], own_key=True)
    _, refusal = await reserve(engine, user_id, 0, own_key=True, max_open=4)
    assert refusal is None
    # An own-key call is recorded (for /usage), never charged.
    assert (await credit_figures(sessions, user_id))[1] == 0


async def test_a_settlement_applies_once(db, engine, sessions):
    user_id = await funded_user(sessions, 10_000)
    reference, refusal = await reserve(engine, user_id, 4_000)
    assert refusal is None
    first, _ = await settle(engine, user_id, [(reference, 1_500)])
    again, _ = await settle(engine, user_id, [(reference, 1_500)])
    assert [s.charged_millicents for s in first] == [1_500] and again == []
    assert await credit_figures(sessions, user_id) == (10_000, 1_500, 0, 0)
    async with sessions() as s:
        entries = (await s.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.reference == reference))).all()
    assert [e.delta_millicents for e in entries] == [-1_500]


async def test_a_reservation_left_by_a_dead_process_is_charged_in_full_by_the_sweep(db, engine, sessions):
    user_id = await funded_user(sessions, 10_000)
    live, _ = await reserve(engine, user_id, 1_000)
    dead, refusal = await reserve(engine, user_id, 3_000, ttl=timedelta(seconds=-1))
    assert refusal is None
    assert await settle_expired(engine) == 1
    assert await settle_expired(engine) == 0
    assert await credit_figures(sessions, user_id) == (10_000, 3_000, 1_000, 1)
    async with sessions() as s:
        left = (await s.scalars(select(CreditReservation.reference).where(CreditReservation.user_id == user_id))).all()
        unsettled = await s.scalar(
            select(func.sum(LlmSpendDaily.millicents)).where(
                LlmSpendDaily.user_id == user_id, LlmSpendDaily.purpose == "unsettled"
            )
        )
    assert left == [live] and unsettled == 3_000
    # The process was not dead after all: its late settlement finds nothing to settle.
    assert (await settle(engine, user_id, [(dead, 10)]))[0] == []
    assert (await credit_figures(sessions, user_id))[1] == 3_000


async def test_a_settlement_charges_the_exact_cost_even_when_its_hold_was_lost(db, engine, sessions):
    # A quick hold lost to a database crash: its row and its share of the balance are gone, the call went on.
    user_id = await funded_user(sessions, 10_000)
    lost, _ = await reserve(engine, user_id, 4_000)
    kept, _ = await reserve(engine, user_id, 2_000)
    async with driver_connection(engine) as conn:
        await conn.execute("DELETE FROM credit_reservations WHERE reference = $1", lost)
        await conn.execute(
            "UPDATE user_credits SET reserved_millicents = reserved_millicents - 4000, "
            "open_reservations = open_reservations - 1 WHERE user_id = $1",
            user_id,
        )
    settled, balances = await settle(engine, user_id, [(lost, 1_200), (kept, 700)])
    assert {(s.reference, s.held_millicents, s.charged_millicents) for s in settled} == {
        (lost, 0, 1_200),
        (kept, 2_000, 700),
    }
    # Both charged, only the hold that was there given back: nothing left held, nothing open.
    assert await credit_figures(sessions, user_id) == (10_000, 1_900, 0, 0)
    assert balances[user_id].used_millicents == 1_900
    # Once only, whichever way it comes back.
    assert (await settle(engine, user_id, [(lost, 1_200), (kept, 700)]))[0] == []
    assert await credit_figures(sessions, user_id) == (10_000, 1_900, 0, 0)
    async with sessions() as s:
        daily = await s.scalar(select(func.sum(UsageDaily.llm_millicents)).where(UsageDaily.user_id == user_id))
    assert daily == 1_900


async def test_a_quick_hold_commits_without_waiting_for_the_wal_flush(db, engine, sessions):
    user_id = await funded_user(sessions, 10**9)
    calls = 60

    async def syncs(conn) -> int:
        # The server's WAL flushes so far (pg_stat_wal), with this backend's own counted in first.
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")
        return int(await conn.fetchval("SELECT wal_sync FROM pg_stat_wal"))

    async def hold(conn, durable: bool) -> None:
        reference = f"llm:{uuid.uuid4().hex}"
        refusal = await reservations.reserve(
            conn, user_id, reference, 1, own_key=False, max_open=1_000, ttl=TTL, durable=durable
        )
        assert refusal is None

    async with driver_connection(engine) as conn:
        before = await syncs(conn)
        for _ in range(calls):
            await hold(conn, durable=True)
        durable = await syncs(conn) - before
        before = await syncs(conn)
        for _ in range(calls):
            await hold(conn, durable=False)
        quick = await syncs(conn) - before
    # Each durable hold waited for a flush of its own; quick ones leave it to the WAL writer's next round.
    assert durable >= calls
    assert quick < calls / 4
    assert (await credit_figures(sessions, user_id))[2:] == (2 * calls, 2 * calls)
