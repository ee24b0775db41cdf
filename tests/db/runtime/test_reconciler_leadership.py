"""Exactly one reconciler acts at a time; a standby takes over when the leader goes away. Host
reachability is counted, not guessed from one failure."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.hosts import record_host
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import host_factory

pytestmark = pytest.mark.db


async def test_two_reconcilers_never_act_at_once(database_url, sessions, tmp_path):
    settings = make_settings(
        database_url, MOCK_CONTAINERS="true", RECONCILE_INTERVAL="0.2", YOURCLAW_STATE_DIR=str(tmp_path)
    )
    first = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    second = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(first.run(stop_first)), asyncio.create_task(second.run(stop_second))]
    try:
        leader = await wait_for(
            lambda: first if first.is_leader else second if second.is_leader else None, message="a leader"
        )
        standby = second if leader is first else first
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        while loop.time() < deadline:  # sampled for a while: never two leaders, the standby never passes
            assert not (first.is_leader and second.is_leader)
            assert standby.passes == 0
            await asyncio.sleep(0.02)
        assert leader.passes >= 3

        (stop_first if leader is first else stop_second).set()
        await wait_for(lambda: standby.is_leader, timeout=10, message="the standby to take over")
        await wait_for(lambda: standby.passes > 0, timeout=10, message="the new leader to act")
        assert not leader.is_leader
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


async def test_host_becomes_unreachable_after_repeated_failures_and_back_on_answer(db, sessions):
    async with transaction(sessions) as session:
        session.add(HostServer(name="h", docker_url="tcp://10.0.0.9:2376"))
    host = await db.scalar(select(HostServer).where(HostServer.name == "h"))
    db.expunge(host)  # the reconciler holds its own copy of the row, as here
    assert await record_host(sessions, host, ok=False, error="timeout", threshold=3)
    assert await record_host(sessions, host, ok=False, error="timeout", threshold=3)
    assert not await record_host(sessions, host, ok=False, error="timeout", threshold=3)
    db.expire_all()
    stored = await db.get(HostServer, host.id)
    assert stored.reachable is False and stored.consecutive_failures == 3 and stored.last_error == "timeout"
    assert await record_host(sessions, host, ok=True, error=None, threshold=3)
    db.expire_all()
    stored = await db.get(HostServer, host.id)
    assert stored.reachable and stored.consecutive_failures == 0 and stored.last_contact_at is not None
