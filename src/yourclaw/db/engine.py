"""The async engine and session factory, built once per process from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from yourclaw.kit.settings import normalize_database_url


def make_engine(database_url: str, *, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    """`max_overflow` defaults to `pool_size` (bursty background work); the API passes 0, see `AppState`."""
    return create_async_engine(
        normalize_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        # No ping per checkout: it cost round trips on every request. A connection that died with the
        # server fails its request once (503, which callers and Twilio retry) and is then replaced.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Past capacity, answer 503 in seconds rather than queueing for 30 s behind a full pool.
        pool_timeout=10,
        # A failed statement's message would list its values (phone numbers, message text); errors reach logs.
        hide_parameters=True,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for background steps: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


def driver_dsn(database_url: str) -> str:
    """The URL as the driver itself takes it (what `Listener` and the driver pools connect to)."""
    return normalize_database_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)


def make_driver_pool(database_url: str, *, size: int) -> asyncpg.Pool:
    """Plain driver connections for the statements on the hottest paths (the LLM proxy's reservation
    before every call and its settlement after): SQLAlchemy's pool checkout and async adaption cost more
    CPU than such a statement. Await it once on the running loop before use; it connects lazily, like the
    engine's pool; autocommit unless a statement runs in `conn.transaction()`."""
    return asyncpg.create_pool(driver_dsn(database_url), min_size=0, max_size=size, reset=_keep_session)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """What a driver pool's connection gives back needs no reset: its statements set no session state (no
    SET, LISTEN, cursor or session advisory lock), and asyncpg still rolls back a transaction left open.
    The default reset is a round trip of its own (`RESET ALL; UNLISTEN *; ...`) on every release: on the
    proxy's reservation, that doubled the database's share of the call's time to first byte."""


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """One of the engine's pooled connections as the driver's own, in autocommit: for background work
    (and tests) that call the functions written for a driver pool."""
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection
