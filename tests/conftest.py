"""Shared fixtures: a real PostgreSQL migrated by Alembic, settings, the app and a client."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support import make_settings
from yourclaw.db import migrations
from yourclaw.db.base import Base
from yourclaw.db.embedded import EmbeddedPostgres
from yourclaw.db.engine import make_engine, make_sessionmaker
from yourclaw.kit.settings import Settings
from yourclaw.server.app import create_app


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """TEST_DATABASE_URL when given (a throwaway database: its tables are emptied), else an embedded
    server in a fresh data directory, stopped at the end."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        migrations.upgrade(external)
        yield external
        return
    # Our own directory, not pytest's tmp_path: pytest prunes old base temp dirs, including ones a
    # concurrently running session still uses.
    data_dir = Path(tempfile.mkdtemp(prefix="yourclaw-test-pg-"))
    server = EmbeddedPostgres(data_dir)
    url = server.start()
    try:
        migrations.upgrade(url)
        yield url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


async def _truncate(engine: AsyncEngine) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def db(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session on a database emptied after the test; the test commits what it wants others to see."""
    async with sessions() as session:
        yield session
    await _truncate(engine)


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await _truncate(engine)
