"""A pass plans from rows read before its hosts answered (seconds before, when one is slow). Whoever changes
an assistant's row in the meantime must win: the applier never writes a stale decision over it, and a
container it made for a row that went elsewhere is removed at once, not left to poll for the orphan grace.

Each race is made deterministic: the stale snapshot is handed to the applier directly, or the host's create
is held until the test has moved the row."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import select, update

from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime import planner
from yourclaw.runtime import repository as runtime_repo
from yourclaw.runtime.apply import Applier
from yourclaw.runtime.container_spec import ContainerSpec
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.standins.runtime import StandinHost

pytestmark = pytest.mark.db


class HeldCreate(StandinHost):
    """A host whose next create, once made, waits for the test before it answers."""

    def __init__(self, name, root, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name, root)
        self.loop = loop
        self.made = asyncio.Event()
        self.release = threading.Event()

    def create(self, spec: ContainerSpec) -> str:
        container_id = super().create(spec)
        self.loop.call_soon_threadsafe(self.made.set)
        self.release.wait(30)
        return container_id


async def _hosts(sessions) -> dict[str, HostServer]:
    async with transaction(sessions) as session:
        for name in ("a", "b"):
            await runtime_repo.ensure_host(
                session, name=name, docker_url=f"tcp://{name}.invalid:2376", max_containers=5
            )
    async with sessions() as session:
        return {h.name: h for h in (await session.scalars(select(HostServer))).all()}


async def _row(sessions, assistant_id: uuid.UUID) -> Assistant:
    async with sessions() as session:
        return await session.get(Assistant, assistant_id)


async def _move(sessions, assistant_id: uuid.UUID, host_id: uuid.UUID) -> None:
    async with transaction(sessions) as session:
        await session.execute(update(Assistant).where(Assistant.id == assistant_id).values(host_server_id=host_id))


def _applier(settings, sessions, hosts, clients, stale: Assistant, token: str) -> Applier:
    return Applier(
        settings,
        sessions,
        SecretBox(settings.fernet_keys),
        {h.id: HostHandle(h.id, clients[name], anyio.CapacityLimiter(2)) for name, h in hosts.items()},
        {h.id: h for h in hosts.values()},
        {stale.id: stale},
        {stale.id: token},
        datetime.now(UTC),
    )


@pytest.fixture
async def setting(database_url, sessions, db, tmp_path):
    settings = make_settings(database_url, MOCK_CONTAINERS="true", YOURCLAW_STATE_DIR=str(tmp_path))
    box = SecretBox(settings.fernet_keys)
    _, assistant_id, token = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    return settings, await _hosts(sessions), assistant_id, token


async def test_a_row_placed_elsewhere_after_the_pass_read_it_is_left_where_it_was_put(setting, sessions, tmp_path):
    settings, hosts, assistant_id, token = setting
    stale = await _row(sessions, assistant_id)  # what the pass saw: not placed yet
    await _move(sessions, assistant_id, hosts["b"].id)
    clients = {name: StandinHost(name, tmp_path / name) for name in hosts}
    try:
        await _applier(settings, sessions, hosts, clients, stale, token).run(
            planner.Create(assistant_id, hosts["a"].id)
        )
        row = await _row(sessions, assistant_id)
        assert row.host_server_id == hosts["b"].id and row.container_id is None
        assert clients["a"].list_containers() == []  # nothing was made for a plan that no longer holds
    finally:
        for client in clients.values():
            client.close()


async def test_a_container_made_for_a_row_that_moved_meanwhile_is_removed_at_once(setting, sessions, tmp_path):
    settings, hosts, assistant_id, token = setting
    stale = await _row(sessions, assistant_id)
    held = HeldCreate("a", tmp_path / "a", asyncio.get_running_loop())
    clients = {"a": held, "b": StandinHost("b", tmp_path / "b")}
    applier = _applier(settings, sessions, hosts, clients, stale, token)
    try:
        creating = asyncio.create_task(applier.run(planner.Create(assistant_id, hosts["a"].id)))
        await asyncio.wait_for(held.made.wait(), 10)
        assert (await _row(sessions, assistant_id)).host_server_id == hosts["a"].id  # claimed before the create
        await _move(sessions, assistant_id, hosts["b"].id)
        held.release.set()
        await asyncio.wait_for(creating, 10)
        row = await _row(sessions, assistant_id)
        assert row.host_server_id == hosts["b"].id and row.container_id is None
        assert held.list_containers() == []
    finally:
        held.release.set()
        for client in clients.values():
            client.close()
