"""The meter's settlement survives the database dropping its connection mid-write: the batch is tried again
on a new connection and charged exactly once (before, the driver's errors were not taken for transient ones,
and the batch was dropped, to be swept later at its worst case)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.harness.database import lock_waiters
from tests.harness.rows import add_user, credit_figures
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.credits import reservations
from yourclaw.db.engine import driver_connection, make_driver_pool
from yourclaw.llm.metering import Call, Meter
from yourclaw.llm.usage import Usage

pytestmark = pytest.mark.db

MODEL = "claude-haiku-4-5"


async def test_a_batch_whose_connection_is_dropped_mid_write_is_charged_once_on_the_next_try(
    db, engine, sessions, database_url
):
    async with sessions() as s, s.begin():
        user_id = await add_user(s)
        await credits_repo.grant(s, user_id, 10_000_000, reference=f"grant-{user_id}")
    reference = f"llm:{uuid.uuid4().hex}"
    async with driver_connection(engine) as conn:
        refusal = await reservations.reserve(
            conn, user_id, reference, 50_000, own_key=False, max_open=4, ttl=timedelta(minutes=3)
        )
    assert refusal is None

    pool = await make_driver_pool(database_url, size=1)
    meter = Meter(pool, sessions, "http://127.0.0.1:1", retry_for=30.0)
    try:
        async with driver_connection(engine) as blocker:
            # The balance row held by another transaction: the settlement waits on it, in the middle of its write.
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("SELECT 1 FROM user_credits WHERE user_id = $1 FOR UPDATE", user_id)
            meter.record(Call(user_id, reference, False, 50_000), MODEL, Usage(input_tokens=1_000, output_tokens=100))
            await wait_for(lambda: lock_waiters(sessions, "transactionid"), message="the settlement waiting on the row")
            async with driver_connection(engine) as admin:
                dropped = await admin.fetchval(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1",
                    blocker.get_server_pid(),
                )
            assert dropped
            await transaction.rollback()
        await meter.drain(timeout=10)
    finally:
        await pool.close()

    total, used, reserved, open_now = await credit_figures(sessions, user_id)
    assert used > 0, "the batch was dropped instead of tried again"
    assert (reserved, open_now) == (0, 0)
    async with driver_connection(engine) as conn:
        charges = await conn.fetch("SELECT delta_millicents FROM credit_ledger WHERE reference = $1", reference)
    assert [-row[0] for row in charges] == [used]
