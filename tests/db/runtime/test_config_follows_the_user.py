"""The rendered config keeps to the user's clock: heartbeats only in their waking hours, in their time zone. A
time zone change is a desired-state change like a model change: the reconciler is woken at commit and
rewrites the config with a new generation (the stand-in runtime's files stand in for the container's)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.accounts import repository as accounts_repo
from yourclaw.db import channels
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime import openclaw_config
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import ensure_standin_host, host_factory

pytestmark = pytest.mark.db


async def _written(reconciler: Reconciler, sessions, assistant_id, *, after: int = 0) -> tuple[Assistant, dict]:
    """Passes until a config newer than generation `after` is written; the row and that config."""

    async def written():
        await reconciler.run_pass()
        await reconciler.settle(timeout=10)
        async with sessions() as session:
            row = await session.get(Assistant, assistant_id)
        if row.container_id is None or row.written_generation is None or row.written_generation <= after:
            return None
        return row

    row = await wait_for(written, timeout=20, message="the config to be written")
    client = reconciler.handles[row.host_server_id].client
    return row, json.loads(client.read_file(row.container_id, openclaw_config.CONFIG_PATH))


async def test_a_time_zone_change_rewrites_the_config_on_the_users_clock(database_url, sessions, db, tmp_path):
    settings = make_settings(
        database_url, MOCK_CONTAINERS="true", QUIET_HOURS="22:00-08:00", YOURCLAW_STATE_DIR=str(tmp_path)
    )
    box = SecretBox(settings.fernet_keys)
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
    user_id, assistant_id, _ = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    reconciler = Reconciler(settings, sessions, box, host_factory(settings))
    try:
        row, config = await _written(reconciler, sessions, assistant_id)
        defaults = config["agents"]["defaults"]
        assert defaults["heartbeat"]["activeHours"] == {"start": "08:00", "end": "22:00", "timezone": "UTC"}
        assert "userTimezone" not in defaults

        async with transaction(sessions) as session:
            await accounts_repo.set_timezone(session, user_id, "Asia/Tokyo")
        row, config = await _written(reconciler, sessions, assistant_id, after=row.written_generation)
        defaults = config["agents"]["defaults"]
        assert defaults["heartbeat"]["activeHours"]["timezone"] == "Asia/Tokyo"
        assert defaults["userTimezone"] == "Asia/Tokyo"
        assert config["channels"]["yourclaw"]["generation"] == row.desired_generation == row.written_generation
    finally:
        reconciler.close()


async def test_only_a_real_change_of_time_zone_wakes_the_reconciler(database_url, sessions, db):
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(channels.ASSISTANTS, lambda *args: received.put_nowait(args[3]))
    box = SecretBox(make_settings(database_url).fernet_keys)
    user_id, _, _ = await make_assistant(sessions, box)
    try:
        async with transaction(sessions) as session:
            await accounts_repo.set_timezone(session, user_id, "Europe/Paris")
        assert await asyncio.wait_for(received.get(), 5) == str(user_id)
        async with transaction(sessions) as session:
            await accounts_repo.set_timezone(session, user_id, "Europe/Paris")
        # Notifications arrive in commit order: had the unchanged value notified, it would come first.
        await conn.execute("SELECT pg_notify($1, 'marker')", channels.ASSISTANTS)
        assert await asyncio.wait_for(received.get(), 5) == "marker"
    finally:
        await conn.close()


async def test_connecting_and_disconnecting_google_rewrites_the_config(database_url, sessions, db, tmp_path):
    """Which services are connected is desired state: the config names our MCP server while any is, and no
    Google token is in it."""
    from datetime import UTC, datetime

    from yourclaw.integrations import repository as integrations_repo

    settings = make_settings(database_url, MOCK_CONTAINERS="true", YOURCLAW_STATE_DIR=str(tmp_path))
    box = SecretBox(settings.fernet_keys)
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
    user_id, assistant_id, token = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    reconciler = Reconciler(settings, sessions, box, host_factory(settings))
    try:
        row, config = await _written(reconciler, sessions, assistant_id)
        assert "mcp" not in config
        async with transaction(sessions) as session:
            await integrations_repo.save_connection(
                session,
                user_id=user_id,
                service="GOOGLE_CALENDAR",
                access_token=box.encrypt("ya29.secret-access"),
                refresh_token=box.encrypt("1//secret-refresh"),
                expires_at=datetime.now(UTC),
                scopes=[],
                email=None,
            )
        row, config = await _written(reconciler, sessions, assistant_id, after=row.written_generation)
        server = config["mcp"]["servers"]["google"]
        assert server["headers"] == {"Authorization": f"Bearer {token}", "X-YourClaw-Services": "GOOGLE_CALENDAR"}
        assert "ya29.secret-access" not in json.dumps(config) and "1//secret-refresh" not in json.dumps(config)
        async with transaction(sessions) as session:
            await integrations_repo.forget(session, user_id, "GOOGLE_CALENDAR")
        row, config = await _written(reconciler, sessions, assistant_id, after=row.written_generation)
        assert "mcp" not in config
    finally:
        reconciler.close()
