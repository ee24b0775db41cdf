"""The async engine and session factory, built once per process from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
