"""Emptying the tests' database between tests (every table, identities restarted), and seeing a transaction
wait on another's lock (for tests that drive two transactions step by step)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.harness.log_scan import harvest
from yourclaw.db.base import Base
from yourclaw.db.engine import make_engine


async def truncate(engine: AsyncEngine) -> None:
    """Also hands the log scan what the test gave the product (bodies, numbers), before it is gone."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await harvest(conn)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


async def truncate_at(database_url: str) -> None:
    """`truncate` from an engine of its own (for a thread or a process that has none)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        await truncate(engine)
    finally:
        await engine.dispose()


async def lock_waiters(sessions, wait_event: str | None = None) -> int:
    """Backends of the tests' database waiting on a heavyweight lock (`wait_event`: 'advisory', 'tuple',
    'transactionid', ...; any when None)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND (CAST(:event AS text) IS NULL OR wait_event = :event)"
    )
    async with sessions() as s:
        return await s.scalar(text(query), {"event": wait_event})
