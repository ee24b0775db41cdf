"""The whole control plane on the simulated runtime: the real API, the real reconciler and in-process
stand-in assistants that poll the API over HTTP. Only Docker is missing (the engine tests cover it)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import subscribe
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.assistants import service as assistants_service
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, AssistantToken, Outbox
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import ensure_standin_host, host_factory

pytestmark = pytest.mark.db


@pytest.fixture
async def product(database_url, sessions, tmp_path, engine):
    port = free_port()
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        MOCK_CONTAINERS="true",
        YOURCLAW_STATE_DIR=str(tmp_path / "state"),
        RECONCILE_INTERVAL="1",
    )
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop = asyncio.Event()
    async with LiveServer(settings, port=port) as server:
        task = asyncio.create_task(reconciler.run(stop))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield settings, client, reconciler
        stop.set()
        await asyncio.wait_for(task, 15)
    from tests.harness.database import truncate

    await truncate(engine)


async def _sign_in(client: httpx.AsyncClient) -> tuple[dict, uuid.UUID]:
    body = (await client.post("/api/v1/dev/login", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"})).json()
    return {"Authorization": f"Bearer {body['access_token']}"}, uuid.UUID(body["user_id"])


async def _row(sessions, user_id) -> Assistant:
    async with sessions() as session:
        return await session.scalar(select(Assistant).where(Assistant.user_id == user_id))


def _host(reconciler):
    (handle,) = reconciler.handles.values()
    return handle.client


async def test_assistant_lifecycle_on_the_standin_runtime(product, sessions):
    settings, client, reconciler = product
    headers, user_id = await _sign_in(client)
    await subscribe(sessions, user_id)

    created = await client.post("/api/v1/assistants", headers=headers)
    assert created.status_code == 202 and created.json()["status"] == "PROVISIONING"

    async def status():
        return (await client.get("/api/v1/assistants", headers=headers)).json()["status"]

    await wait_for(lambda: _eq(status(), "READY"), timeout=20, message="READY")
    first = await _row(sessions, user_id)
    assert first.phase == "ready" and first.observed_generation == first.desired_generation
    assert first.instance_id.startswith(first.container_id[:12] + "-")

    async with sessions() as session:
        ready_messages = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.user_id == user_id, Outbox.body.like("%ready%"))
        )
    assert ready_messages == 1

    # A second POST never touches a working assistant.
    again = await client.post("/api/v1/assistants", headers=headers)
    assert again.status_code == 202
    assert (await _row(sessions, user_id)).container_id == first.container_id

    # A model change is a config rewrite in place: same container, next generation in effect.
    patched = await client.patch("/api/v1/assistants", json={"model": "anthropic/claude-haiku-4-5"}, headers=headers)
    assert patched.status_code == 202

    async def generation_applied():
        row = await _row(sessions, user_id)
        return row.observed_generation == first.desired_generation + 1 and row.phase == "ready"

    await wait_for(generation_applied, timeout=20, message="the new generation to take effect")
    after = await _row(sessions, user_id)
    assert after.container_id == first.container_id
    config_file = (
        settings.state_dir / "simulated" / "simulated" / "volumes" / f"yourclaw-data-{user_id}" / "openclaw.json"
    )
    config = json.loads(config_file.read_text())
    assert config["agents"]["defaults"]["model"]["primary"] == "anthropic/claude-haiku-4-5"
    assert config["channels"]["yourclaw"]["generation"] == after.desired_generation
    assert "sk-ant" not in config_file.read_text()  # no real LLM key, only the assistant's own token

    # Token rotation: same container, the new token polls, the old one is given an expiry.
    async with transaction(sessions) as session:
        await assistants_service.rotate_token(session, SecretBox(settings.fernet_keys), user_id)

    async def rotated():
        row = await _row(sessions, user_id)
        return row.observed_generation == after.desired_generation + 1 and row.phase == "ready"

    await wait_for(rotated, timeout=20, message="the rotated token to be in use")
    async with sessions() as session:
        old = (
            await session.scalars(
                select(AssistantToken).where(AssistantToken.user_id == user_id, AssistantToken.current.is_(False))
            )
        ).all()
    assert old and all(t.expires_at is not None for t in old)
    assert (await _row(sessions, user_id)).container_id == first.container_id

    # Stopped behind our back: started again and READY with a new instance.
    before = await _row(sessions, user_id)
    _host(reconciler).stop(before.container_id)

    async def back():
        row = await _row(sessions, user_id)
        return row.instance_id != before.instance_id and row.status == "READY" and row.phase == "ready"

    await wait_for(back, timeout=20, message="READY again after a stop")

    # DELETE leaves nothing running.
    deleted = await client.delete("/api/v1/assistants", headers=headers)
    assert deleted.status_code == 202
    await wait_for(lambda: _phase_none(sessions, user_id), timeout=20, message="the container to be removed")
    assert _host(reconciler).list_containers() == []


async def _eq(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def _phase_none(sessions, user_id) -> bool:
    return (await _row(sessions, user_id)).phase == "none"
