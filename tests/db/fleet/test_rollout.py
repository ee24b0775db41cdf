"""`yourclaw rollout` on the stand-in runtime with the real reconciler and API: a good image moves the fleet a wave
at a time, each assistant READY on a new container; a broken image fails its first wave, which goes back to the
previous image, and the rollout halts with the rest of the fleet never touched."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.harness.database import truncate
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import subscribe
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, RolloutMember
from yourclaw.fleet import rollout
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import ensure_standin_host, host_factory

pytestmark = pytest.mark.db

FLEET = 3


@pytest.fixture
async def fleet(database_url, sessions, tmp_path, engine):
    port = free_port()
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        MOCK_CONTAINERS="true",
        YOURCLAW_STATE_DIR=str(tmp_path / "state"),
        RECONCILE_INTERVAL="0.5",
        WORKER_MAX_ATTEMPTS="1",
    )
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop = asyncio.Event()
    async with LiveServer(settings, port=port) as server:
        task = asyncio.create_task(reconciler.run(stop))
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                users = []
                for _ in range(FLEET):
                    email = f"{uuid.uuid4().hex[:8]}@example.com"
                    body = (await client.post("/api/v1/dev/login", json={"email": email})).json()
                    user_id = uuid.UUID(body["user_id"])
                    await subscribe(sessions, user_id)
                    headers = {"Authorization": f"Bearer {body['access_token']}"}
                    assert (await client.post("/api/v1/assistants", headers=headers)).status_code == 202
                    users.append(user_id)
                await wait_for(lambda: _all_ready(sessions), timeout=30, message="the fleet READY")
                yield settings, users
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await truncate(engine)


async def _rows(sessions) -> list[Assistant]:
    async with sessions() as session:
        return list((await session.scalars(select(Assistant).order_by(Assistant.created_at, Assistant.id))).all())


async def _all_ready(sessions) -> bool:
    rows = await _rows(sessions)
    return len(rows) == FLEET and all(r.status == "READY" and r.phase == "ready" for r in rows)


def _plan(image: str, wave: float) -> rollout.Plan:
    return rollout.Plan(image, wave_percent=wave, failure_threshold=0.0, wave_timeout=30, poll_seconds=0.1)


async def test_a_good_image_goes_out_in_waves_and_a_broken_one_halts_on_the_first(fleet, sessions):
    settings, _ = fleet
    before = {r.id: r.container_id for r in await _rows(sessions)}
    said: list[str] = []

    plan = _plan("yourclaw-openclaw:next", 50)
    started = await rollout.start(sessions, settings, plan)
    assert started.waves == 2  # 2 assistants, then 1
    with pytest.raises(rollout.RolloutRefused):
        await rollout.start(sessions, settings, plan)  # one rollout at a time
    assert await rollout.run(sessions, started, plan, say=said.append) == "DONE"
    rows = await _rows(sessions)
    assert {r.image for r in rows} == {"yourclaw-openclaw:next"}
    assert all(r.status == "READY" and r.container_id != before[r.id] for r in rows)
    assert (await rollout.status_lines(sessions))[0].startswith("rollout to yourclaw-openclaw:next: DONE, wave 2/2")

    on_next = {r.id: r.container_id for r in rows}
    broken = _plan("yourclaw-openclaw:broken", 33)
    started = await rollout.start(sessions, settings, broken)
    assert started.waves == 3
    assert await rollout.run(sessions, started, broken, say=said.append) == "HALTED"
    assert any(line.startswith("halted: wave 1: 1 of 1 failed") for line in said)
    async with sessions() as session:
        (first,) = (
            await session.scalars(
                select(RolloutMember).where(RolloutMember.rollout_id == started.id, RolloutMember.wave == 0)
            )
        ).all()
    assert first.outcome == "ROLLED_BACK" and "No such image" in (first.reason or "")

    # The failed wave comes back on its previous image; the later waves were never touched.
    await wait_for(lambda: _all_ready(sessions), timeout=30, message="the rolled-back wave READY again")
    rows = await _rows(sessions)
    assert {r.image for r in rows} == {"yourclaw-openclaw:next"}
    untouched = [r for r in rows if r.id != first.assistant_id]
    assert all(r.container_id == on_next[r.id] for r in untouched)
    status = await rollout.status_lines(sessions)
    assert status[0].startswith("rollout to yourclaw-openclaw:broken: HALTED, wave 0/3")
    assert "1 ROLLED_BACK" in status[1] and "2 WAITING" in status[1]
