"""A fleet on the stand-in runtime with the real reconciler and API: hosts by name, and users who signed in,
subscribed and asked for an assistant, all READY on the first host."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import subscribe
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.runtime import repository as runtime_repo
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import host_factory


@dataclass
class Fleet:
    settings: Settings
    reconciler: Reconciler
    users: list[uuid.UUID]


async def assistants(sessions) -> list[Assistant]:
    async with sessions() as session:
        return list((await session.scalars(select(Assistant).order_by(Assistant.created_at))).all())


async def all_ready(sessions, count: int) -> bool:
    rows = await assistants(sessions)
    return len(rows) == count and all(r.status == "READY" and r.phase == "ready" for r in rows)


@asynccontextmanager
async def standin_fleet(database_url, sessions, state_dir, *, hosts=("a",), users=1, **settings_overrides):
    port = free_port()
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        MOCK_CONTAINERS="true",
        YOURCLAW_STATE_DIR=str(state_dir),
        RECONCILE_INTERVAL="0.5",
        **settings_overrides,
    )
    async with transaction(sessions) as session:
        for name in hosts:
            await runtime_repo.ensure_host(
                session, name=name, docker_url=f"tcp://{name}.invalid:2376", max_containers=10
            )
            await runtime_repo.set_draining(session, name, name != hosts[0])  # everyone on the first
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop = asyncio.Event()
    async with LiveServer(settings, port=port) as server:
        task = asyncio.create_task(reconciler.run(stop))
        try:
            made = []
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                for _ in range(users):
                    email = f"{uuid.uuid4().hex[:8]}@example.com"
                    body = (await client.post("/api/v1/dev/login", json={"email": email})).json()
                    made.append(uuid.UUID(body["user_id"]))
                    await subscribe(sessions, made[-1])
                    headers = {"Authorization": f"Bearer {body['access_token']}"}
                    assert (await client.post("/api/v1/assistants", headers=headers)).status_code == 202
                await wait_for(lambda: all_ready(sessions, users), timeout=30, message="the fleet READY")
            async with transaction(sessions) as session:
                for name in hosts[1:]:
                    await runtime_repo.set_draining(session, name, False)
            yield Fleet(settings, reconciler, made)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
