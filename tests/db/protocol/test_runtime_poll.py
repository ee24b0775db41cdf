"""The assistant's long poll on the real app and PostgreSQL: token, headers, bookkeeping, waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from tests.harness.app_lifespan import running
from tests.harness.rows import make_assistant
from tests.harness.waiting import wait_for
from yourclaw.db import channels
from yourclaw.db.models import Assistant
from yourclaw.kit.crypto import SecretBox
from yourclaw.protocol import tokens
from yourclaw.server.app import create_app
from yourclaw.server.state import AppState

pytestmark = pytest.mark.db

# "At once" for a poll that waits 30 s: far under its wait, so it was ended, not timed out, however busy the
# machine. How fast it really is belongs to bench/webhook.py.
AT_ONCE = 10.0

INBOUND = "/api/v1/runtime/inbound"


@dataclass
class Served:
    http: httpx.AsyncClient
    state: AppState


@pytest.fixture
async def served(settings, db) -> AsyncIterator[Served]:
    """The app in the test's own event loop, so a test can act while a poll waits (the test client runs
    each request to completion on another thread). `db` empties the tables afterwards."""
    app = create_app(settings)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield Served(http, app.state.app_state)


@dataclass
class Polling:
    user_id: uuid.UUID
    assistant_id: uuid.UUID
    token: str


@pytest.fixture
async def assistant(sessions) -> Polling:
    box = SecretBox([Fernet.generate_key().decode()])
    made = await make_assistant(sessions, box, email="poller@example.com", status="PROVISIONING", phase="connecting")
    return Polling(*made)


def _headers(token: str | None, *, generation: object = 1, instance: object = "inst-a") -> dict[str, str]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if generation is not None:
        headers["X-Config-Generation"] = str(generation)
    if instance is not None:
        headers["X-Instance-Id"] = str(instance)
    return headers


async def _poll(http: httpx.AsyncClient, token: str | None, *, wait: object = 0, **headers) -> httpx.Response:
    return await http.get(INBOUND, params={"wait": wait}, headers=_headers(token, **headers))


async def _row(sessions, assistant_id: uuid.UUID) -> Assistant:
    async with sessions() as s:
        return await s.scalar(select(Assistant).where(Assistant.id == assistant_id))


async def test_unknown_missing_or_revoked_tokens_are_401(served, sessions, assistant):
    for token in ("yca_not-a-real-token", "sk-ant-whatever", None):
        response = await _poll(served.http, token)
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_ASSISTANT_TOKEN"
        if token:
            assert token not in response.text

    async with sessions() as s:
        await tokens.revoke_all(s, assistant.assistant_id)
        await s.commit()
    response = await _poll(served.http, assistant.token)
    assert response.status_code == 401 and response.json()["code"] == "INVALID_ASSISTANT_TOKEN"


async def test_a_deleted_assistant_cannot_poll(served, sessions, assistant):
    async with sessions() as s:
        await s.execute(update(Assistant).where(Assistant.id == assistant.assistant_id).values(wanted=False))
        await s.commit()
    response = await _poll(served.http, assistant.token)
    assert response.status_code == 401 and response.json()["code"] == "INVALID_ASSISTANT_TOKEN"


async def test_the_token_may_come_as_x_api_key(served, assistant):
    headers = _headers(None) | {"x-api-key": assistant.token}
    response = await served.http.get(INBOUND, params={"wait": 0}, headers=headers)
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("wait", "generation", "instance"),
    [
        (0, None, "inst-a"),
        (0, "abc", "inst-a"),
        (0, -1, "inst-a"),
        (0, 2**63, "inst-a"),
        (0, 1, None),
        (0, 1, "has space"),
        (0, 1, "x" * 65),
        (0, 1, ""),
        (61, 1, "inst-a"),
        (-1, 1, "inst-a"),
        ("soon", 1, "inst-a"),
    ],
)
async def test_malformed_polls_are_422(served, sessions, assistant, wait, generation, instance):
    response = await _poll(served.http, assistant.token, wait=wait, generation=generation, instance=instance)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR" and response.json()["detail"]
    assert (await _row(sessions, assistant.assistant_id)).last_poll_at is None


async def test_poll_waits_then_answers_204(served, assistant):
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await _poll(served.http, assistant.token, wait=1)
    elapsed = loop.time() - started
    assert response.status_code == 204 and response.content == b""
    assert 0.9 <= elapsed < 5, elapsed


async def test_poll_records_instance_and_generation(served, sessions, assistant):
    response = await _poll(served.http, assistant.token, generation=3, instance="inst-a")
    assert response.status_code == 204
    row = await _row(sessions, assistant.assistant_id)
    assert row.last_poll_at is not None
    assert (row.last_poll_generation, row.instance_id, row.superseded_instance_ids) == (3, "inst-a", [])


async def test_unchanged_polls_are_written_at_most_every_few_seconds(served, sessions, assistant):
    await _poll(served.http, assistant.token, generation=1)
    first = (await _row(sessions, assistant.assistant_id)).last_poll_at
    assert (await _poll(served.http, assistant.token, generation=1)).status_code == 204
    assert (await _row(sessions, assistant.assistant_id)).last_poll_at == first

    assert (await _poll(served.http, assistant.token, generation=2)).status_code == 204
    changed = await _row(sessions, assistant.assistant_id)
    assert changed.last_poll_at > first and changed.last_poll_generation == 2

    # As if the last write were older than the throttle interval.
    async with sessions() as s:
        await s.execute(
            update(Assistant)
            .where(Assistant.id == assistant.assistant_id)
            .values(last_poll_at=Assistant.last_poll_at - timedelta(seconds=10))
        )
        await s.commit()
    aged = (await _row(sessions, assistant.assistant_id)).last_poll_at
    assert (await _poll(served.http, assistant.token, generation=2)).status_code == 204
    assert (await _row(sessions, assistant.assistant_id)).last_poll_at > aged + timedelta(seconds=9)


async def test_a_new_instance_supersedes_the_old_one(served, sessions, assistant):
    assert (await _poll(served.http, assistant.token, instance="old")).status_code == 204
    assert (await _poll(served.http, assistant.token, instance="new")).status_code == 204
    row = await _row(sessions, assistant.assistant_id)
    assert row.instance_id == "new" and row.superseded_instance_ids == ["old"]

    stale = await _poll(served.http, assistant.token, instance="old")
    assert stale.status_code == 409 and stale.json()["code"] == "INSTANCE_SUPERSEDED"
    assert (await _poll(served.http, assistant.token, instance="new")).status_code == 204
    assert (await _row(sessions, assistant.assistant_id)).instance_id == "new"


async def test_only_the_last_superseded_instances_are_kept(served, sessions, assistant):
    for i in range(11):
        assert (await _poll(served.http, assistant.token, instance=f"i{i}")).status_code == 204
    row = await _row(sessions, assistant.assistant_id)
    assert row.instance_id == "i10"
    assert row.superseded_instance_ids == [f"i{i}" for i in range(2, 10)]


async def test_instance_or_generation_changes_notify_the_reconciler(served, database_url, assistant):
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(channels.POLLS, lambda *args: received.put_nowait(args[3]))
    try:
        expected = str(assistant.assistant_id)
        await _poll(served.http, assistant.token, generation=1)
        assert await asyncio.wait_for(received.get(), 5) == expected
        await _poll(served.http, assistant.token, generation=1)
        # Notifications arrive in commit order: had the unchanged poll notified, it would come first.
        await conn.execute("SELECT pg_notify($1, 'marker')", channels.POLLS)
        assert await asyncio.wait_for(received.get(), 5) == "marker"
        await _poll(served.http, assistant.token, generation=2)
        assert await asyncio.wait_for(received.get(), 5) == expected
        await _poll(served.http, assistant.token, generation=2, instance="inst-b")
        assert await asyncio.wait_for(received.get(), 5) == expected
    finally:
        await conn.close()


async def test_a_waiting_poll_holds_no_database_connection_and_wakes_per_user(served, assistant):
    waiter = served.state.inbound
    poll = asyncio.create_task(_poll(served.http, assistant.token, wait=30))
    # Registered first, then it looks in the queue once: wait until that look is over too.
    await wait_for(
        lambda: waiter.waiting(assistant.user_id) == 1 and served.state.engine.pool.checkedout() == 0,
        message="the poll to wait holding no connection",
    )

    assert waiter.wake(uuid.uuid4()) == 0
    assert not poll.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert waiter.wake(assistant.user_id) == 1
    response = await asyncio.wait_for(poll, AT_ONCE)
    assert response.status_code == 204 and loop.time() - started < AT_ONCE
    assert waiter.waiting() == 0


async def test_a_newer_poll_ends_an_older_one_of_the_same_user(served, assistant):
    """An older poll still waiting is one its client gave up (the plugin's channel restarted): it answers
    at once instead of taking the next message for a connection nobody reads."""
    waiter = served.state.inbound
    loop = asyncio.get_running_loop()
    older = asyncio.create_task(_poll(served.http, assistant.token, wait=30))
    await wait_for(lambda: waiter.waiting(assistant.user_id) == 1, message="the first poll to wait")
    newer = asyncio.create_task(_poll(served.http, assistant.token, wait=30))
    started = loop.time()
    assert (await asyncio.wait_for(older, AT_ONCE)).status_code == 204 and loop.time() - started < AT_ONCE
    await wait_for(lambda: waiter.waiting(assistant.user_id) == 1, message="the newer poll to wait")
    assert not newer.done()
    waiter.shutdown()
    assert (await asyncio.wait_for(newer, AT_ONCE)).status_code == 204


async def test_shutdown_releases_waiting_polls_at_once(served, sessions, assistant):
    waiter = served.state.inbound
    box = SecretBox([Fernet.generate_key().decode()])
    others = []
    for _ in range(2):  # one poll per user: a second one of the same user would end the first
        others.append((await make_assistant(sessions, box))[2])
    polls = [asyncio.create_task(_poll(served.http, token, wait=30)) for token in (assistant.token, *others)]
    await wait_for(lambda: waiter.waiting() == 3, message="the polls to wait")
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiter.shutdown()
    responses = await asyncio.wait_for(asyncio.gather(*polls), AT_ONCE)
    assert [r.status_code for r in responses] == [204] * 3
    assert loop.time() - started < AT_ONCE

    started = loop.time()
    late = await asyncio.wait_for(_poll(served.http, assistant.token, wait=30), AT_ONCE)
    assert late.status_code == 204 and loop.time() - started < AT_ONCE
