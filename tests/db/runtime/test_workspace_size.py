"""The workspace's size: read from the host, kept on the assistant row, shown in /users/me, and the user told
once on WhatsApp per level (nearly full, full) however often it is measured there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import select, update

from tests.harness.rows import signed_up
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer, Outbox
from yourclaw.llm import catalog
from yourclaw.runtime import workspace
from yourclaw.runtime.container_spec import volume_name
from yourclaw.runtime.host_client import VolumeUsage
from yourclaw.runtime.host_handle import HostHandle

pytestmark = pytest.mark.db
MB = 1024**2


class VolumesHost:
    """A host that answers only the volume inspect, with what the test sets."""

    def __init__(self) -> None:
        self.usage: dict[str, VolumeUsage | None] = {}

    def volume_usage(self, name: str) -> VolumeUsage | None:
        return self.usage.get(name)


async def _placed(sessions, user_id: uuid.UUID) -> tuple[HostServer, Assistant]:
    async with transaction(sessions) as session:
        host = HostServer(name=f"h-{uuid.uuid4().hex[:6]}", docker_url="tcp://h.invalid:2376", max_containers=5)
        session.add(host)
        await session.flush()
        row = Assistant(
            user_id=user_id,
            model=catalog.DEFAULT_MODEL,
            status="READY",
            phase="ready",
            host_server_id=host.id,
            container_id="c" * 64,
        )
        session.add(row)
    return host, row


async def _round(sessions, handle: HostHandle, user_id: uuid.UUID) -> Assistant:
    async with sessions() as session:
        rows = (await session.scalars(select(Assistant).where(Assistant.user_id == user_id))).all()
    measured = await workspace.measure(
        sessions,
        {handle.row_id: handle},
        workspace.placed(rows, {handle.row_id}),
        warn_percent=90,
        now=datetime.now(UTC),
    )
    assert measured == 1
    async with sessions() as session:
        return await session.scalar(select(Assistant).where(Assistant.user_id == user_id))


async def _notices(sessions, user_id: uuid.UUID) -> list[str]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id).order_by(Outbox.id))).all()
        )


async def test_the_size_is_kept_shown_and_each_level_told_once(client, sessions):
    headers, user_id = await signed_up(client)
    host, _ = await _placed(sessions, user_id)
    fake = VolumesHost()
    handle = HostHandle(host.id, fake, anyio.CapacityLimiter(2))
    volume = volume_name(user_id)

    fake.usage[volume] = VolumeUsage(size_bytes=2048 * MB, used_bytes=120 * MB)
    row = await _round(sessions, handle, user_id)
    assert (row.workspace_bytes, row.workspace_limit_bytes) == (120 * MB, 2048 * MB) and row.workspace_measured_at
    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    assert me["assistant"]["workspace"]["used_bytes"] == 120 * MB
    assert me["assistant"]["workspace"]["size_bytes"] == 2048 * MB
    assert me["assistant"]["workspace"]["state"] == "ok"
    assert await _notices(sessions, user_id) == []

    for used in (1900, 1950):  # past 90%, twice: one notice
        fake.usage[volume] = VolumeUsage(size_bytes=2048 * MB, used_bytes=used * MB)
        await _round(sessions, handle, user_id)
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["assistant"]["workspace"]["state"] == (
        "nearly_full"
    )
    fake.usage[volume] = VolumeUsage(size_bytes=2048 * MB, used_bytes=2040 * MB)
    await _round(sessions, handle, user_id)
    await _round(sessions, handle, user_id)
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["assistant"]["workspace"]["state"] == "full"
    notices = await _notices(sessions, user_id)
    assert len(notices) == 2
    assert notices[0].startswith("Your assistant's workspace is nearly full: 1.9 GB of 2 GB used.")
    assert notices[1].startswith("Your assistant's workspace is full (2 GB).")


async def test_a_host_that_reports_no_size_leaves_the_row_alone(client, sessions):
    headers, user_id = await signed_up(client)
    host, _ = await _placed(sessions, user_id)
    handle = HostHandle(host.id, VolumesHost(), anyio.CapacityLimiter(2))  # a `local` volume: no size
    async with sessions() as session:
        rows = (await session.scalars(select(Assistant).where(Assistant.user_id == user_id))).all()
    assert (
        await workspace.measure(
            sessions, {host.id: handle}, workspace.placed(rows, {host.id}), warn_percent=90, now=datetime.now(UTC)
        )
        == 0
    )
    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    assert me["assistant"]["workspace"] is None
    # Not placed anywhere (no container): not measured at all.
    async with transaction(sessions) as session:
        await session.execute(update(Assistant).where(Assistant.user_id == user_id).values(container_id=None))
    async with sessions() as session:
        rows = (await session.scalars(select(Assistant).where(Assistant.user_id == user_id))).all()
    assert workspace.placed(rows, {host.id}) == []
