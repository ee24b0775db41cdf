"""`yourclaw worker` killed with SIGKILL in the middle of its work loses and duplicates nothing: every
message is routed exactly once after a new worker takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from tests.harness.inbound_messages import audit_rows, inbound_count, receive
from tests.harness.rows import make_user
from tests.harness.settings import PROJECT_ROOT
from yourclaw.db.models import InboundMessage

pytestmark = pytest.mark.db


def _worker(settings) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_", "SUPABASE_", "TWILIO_"))}
    env.update(
        YOURCLAW_ENV="development",
        DATABASE_URL=settings.database_url,
        ENCRYPTION_KEY=settings.encryption_key,
        DEV_JWT_SECRET=settings.dev_jwt_secret,
        WORKER_POLL_INTERVAL="0.2",
        RATE_LIMIT_MSG_PER_MIN="1000",
        RATE_LIMIT_MSG_PER_DAY="1000",
        MOCK_TWILIO="true",
        PYTHONPATH=str(PROJECT_ROOT / "src"),
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "yourclaw", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def _routed(sessions) -> int:
    async with sessions() as s:
        return await s.scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status != "RECEIVED")
        )


async def test_sigkilled_worker_loses_and_duplicates_nothing(settings, sessions, db):
    phones = ["+15551239001", "+15551239002"]
    users = [await make_user(sessions, phone, cents=1000) for phone in phones]
    ids = [await receive(sessions, phones[i % 2], f"message {i}") for i in range(60)]

    first = _worker(settings)
    try:
        deadline = time.monotonic() + 60
        while await _routed(sessions) == 0:  # killed once it has started, most likely mid-way
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first worker routed nothing"
            await asyncio.sleep(0.005)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = await _routed(sessions)

    second = _worker(settings)
    try:
        deadline = time.monotonic() + 60
        while await _routed(sessions) < len(ids):
            assert second.poll() is None, second.stderr.read().decode()
            assert time.monotonic() < deadline, f"only {await _routed(sessions)} of {len(ids)} routed"
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert killed_at <= len(ids)
    for user_id in users:
        bodies = [m.body for m in await audit_rows(sessions, user_id)]
        assert len(bodies) == 30 and len(set(bodies)) == 30  # each once, none lost
        assert await inbound_count(sessions, user_id) == 30
