"""The driver pool hands a connection back without asyncpg's reset round trip, and that stays safe: a
transaction left open by a cancelled statement is still rolled back before the next user gets it."""

from __future__ import annotations

import asyncio

import pytest

from yourclaw.db.engine import make_driver_pool

pytestmark = pytest.mark.db


async def test_a_transaction_left_open_is_rolled_back_before_the_connection_is_reused(database_url):
    pool = await make_driver_pool(database_url, size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS driver_pool_probe (n int)")
            first_pid = conn.get_server_pid()
        with pytest.raises(TimeoutError):
            async with pool.acquire() as conn:
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO driver_pool_probe VALUES (1)")
                # Cancelled mid-statement, as a caller's hang-up cancels a reservation.
                await asyncio.wait_for(conn.execute("SELECT pg_sleep(5)"), timeout=0.2)
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == first_pid, "the same connection, handed back"
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM driver_pool_probe") == 0
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS driver_pool_probe")
        await pool.close()
