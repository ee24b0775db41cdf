"""The driver pool hands a connection back without asyncpg's reset round trip (what the session set is still
there for the next user), and that stays safe: a transaction left open by a cancelled statement is still rolled
back before the next user gets the connection."""

from __future__ import annotations

import asyncio

import pytest

from yourclaw.db.engine import make_driver_pool

pytestmark = pytest.mark.db


async def test_a_connection_comes_back_unreset_but_with_a_transaction_left_open_rolled_back(database_url):
    pool = await make_driver_pool(database_url, size=1)
    try:
        async with pool.acquire() as conn:
            # Session state: the default reset (RESET ALL) would clear the setting; a temporary table outlives both.
            await conn.execute("SET application_name = 'driver-pool-probe'")
            await conn.execute("CREATE TEMPORARY TABLE driver_pool_probe (n int)")
            first_pid = conn.get_server_pid()
        with pytest.raises(TimeoutError):
            async with pool.acquire() as conn:
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO driver_pool_probe VALUES (1)")
                # Cancelled mid-statement, as a caller's hang-up cancels a reservation.
                await asyncio.wait_for(conn.execute("SELECT pg_sleep(5)"), timeout=0.2)
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == first_pid, "the same connection, handed back"
            assert await conn.fetchval("SHOW application_name") == "driver-pool-probe", "no reset round trip"
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM driver_pool_probe") == 0
    finally:
        await pool.close()
