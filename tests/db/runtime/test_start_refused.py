"""An engine on its way down still answers its API but refuses every start ("error while mounting volume ...:
database not open"). A READY assistant whose container exited then is not a failed provisioning: it stays
READY with its container, the start is retried with backoff, its user's messages queue (not refused as
"being set up"), and once the engine starts it again they are answered.

The real reconciler, router and API on the stand-in runtime, told to refuse starts."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.harness.inbound_messages import receive
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import make_user
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, InboundMessage, Outbox
from yourclaw.kit.crypto import SecretBox
from yourclaw.messaging.inbound.router import run_router
from yourclaw.protocol import tokens
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import ensure_standin_host, host_factory

pytestmark = pytest.mark.db

PHONE = "+15551237001"
REFUSAL = 'error while mounting volume "/var/lib/docker/volumes/x/_data": database not open'


@pytest.fixture
async def running(database_url, sessions, tmp_path, engine):
    port = free_port()
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        MOCK_CONTAINERS="true",
        YOURCLAW_STATE_DIR=str(tmp_path / "state"),
        RECONCILE_INTERVAL="1",
        WORKER_POLL_INTERVAL="0.2",
        RATE_LIMIT_MSG_PER_MIN="100",
        RATE_LIMIT_MSG_PER_DAY="100",
        # The stopped stand-in's long poll is still open on the server and may lease the message to the dead
        # instance: a short lease hands it to the next one soon.
        INBOUND_LEASE_SECONDS="5",
    )
    box = SecretBox(settings.fernet_keys)
    user_id = await make_user(sessions, PHONE, assistant="PROVISIONING", phase="placing", cents=1000)
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
        assistant = await session.scalar(select(Assistant).where(Assistant.user_id == user_id))
        await tokens.issue(session, box, user_id=user_id, assistant_id=assistant.id)
    reconciler = Reconciler(settings, sessions, box, host_factory(settings))
    stop = asyncio.Event()
    async with LiveServer(settings, port=port):
        tasks = [
            asyncio.create_task(reconciler.run(stop)),
            asyncio.create_task(run_router(settings, sessions, box, stop)),
        ]
        try:
            yield reconciler, user_id
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
    from tests.harness.database import truncate

    await truncate(engine)


async def _row(sessions, user_id) -> Assistant:
    async with sessions() as session:
        return await session.scalar(select(Assistant).where(Assistant.user_id == user_id))


async def test_a_refused_start_keeps_the_assistant_ready_and_its_messages_queue_until_it_is_back(running, sessions):
    reconciler, user_id = running

    async def ready():
        row = await _row(sessions, user_id)
        return row if row.status == "READY" and row.phase == "ready" else None

    first = await wait_for(ready, timeout=30, message="the assistant to be READY")
    (handle,) = reconciler.handles.values()
    host = handle.client
    host.refuse_starts = REFUSAL
    host.stop(first.container_id)  # its engine is going down: the container exits, starts are refused

    async def refused_twice():
        failed = reconciler.failed_starts.get(first.id)
        return failed is not None and failed.count >= 2  # retried after its backoff, not given up

    await wait_for(refused_twice, timeout=30, message="the start to be refused and retried")
    row = await _row(sessions, user_id)
    assert (row.status, row.phase, row.attempts) == ("READY", "restarting", 0)
    assert row.container_id == first.container_id and "database not open" in row.last_error
    assert [c.id for c in host.list_containers()] == [first.container_id]  # kept, with its volume

    message_id = await receive(sessions, PHONE, "are you there?")

    async def routed():
        async with sessions() as session:
            message = await session.get(InboundMessage, message_id)
        return message if message.status != "RECEIVED" else None

    message = await wait_for(routed, timeout=10, message="the message to be routed")
    # In the assistant's queue (or leased by the dead instance's last poll), not refused as "being set up".
    assert message.status in ("QUEUED", "LEASED") and message.detail is None
    async with sessions() as session:
        notices = (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id))).all()
    assert not any("set up" in body for body in notices)

    host.refuse_starts = None  # the engine is back

    async def answered():
        async with sessions() as session:
            bodies = (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id))).all()
        return any(body == "echo: are you there?" for body in bodies)

    await wait_for(answered, timeout=40, message="the queued message to be answered")
    back = await wait_for(ready, timeout=20, message="the assistant to be ready again")
    assert back.container_id == first.container_id and back.attempts == 0
    assert first.id not in reconciler.failed_starts
