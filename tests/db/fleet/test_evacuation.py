"""`yourclaw hosts evacuate` on the stand-in runtime (two hosts) with the real reconciler and API: every
assistant leaves the host one at a time, volume and all, a message sent mid-move is answered once, and the old
host keeps nothing of them; `--count` with `--to` moves only so many and leaves the host open."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from tests.harness.assistant_protocol import queue_message
from tests.harness.database import truncate
from tests.harness.standin_fleet import assistants, standin_fleet
from tests.harness.waiting import wait_for
from yourclaw.db.models import Assistant, HostServer, InboundMessage, Outbox
from yourclaw.fleet import evacuation

pytestmark = pytest.mark.db

FLEET = 3


@pytest.fixture
async def fleet(database_url, sessions, tmp_path, engine):
    """Three READY assistants, all on host a; host b empty."""
    try:
        async with standin_fleet(database_url, sessions, tmp_path / "state", hosts=("a", "b"), users=FLEET) as made:
            yield made.reconciler
    finally:
        await truncate(engine)


async def _rows(sessions) -> list[Assistant]:
    return await assistants(sessions)


async def _host_ids(sessions) -> dict[str, uuid.UUID]:
    async with sessions() as session:
        return {h.name: h.id for h in (await session.scalars(select(HostServer))).all()}


async def _answers(sessions, user_id, text) -> int:
    async with sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.user_id == user_id, Outbox.body == f"echo: {text}")
        )


async def test_evacuation_moves_everyone_one_at_a_time_and_a_message_mid_move_is_answered_once(fleet, sessions):
    reconciler = fleet
    hosts = await _host_ids(sessions)
    rows = await _rows(sessions)
    a, b = reconciler.handles[hosts["a"]].client, reconciler.handles[hosts["b"]].client
    # Something of each user's on their volume, to find on the other host after.
    for row in rows:
        a.write_files(row.container_id, {"workspace/MEMORY.md": (f"# {row.user_id}\n".encode(), 0o644)})

    source_id, ids = await evacuation.start(sessions, evacuation.Request("a"))
    assert source_id == hosts["a"] and len(ids) == FLEET
    with pytest.raises(evacuation.EvacuationRefused):
        await evacuation.start(sessions, evacuation.Request("a", to="a"))

    moving = rows[1]

    async def mid_move():
        async def started():
            return (await _rows(sessions))[1].phase == "moving"

        await wait_for(started, timeout=30, interval=0.02, message="the second assistant moving")
        await queue_message(sessions, moving.user_id, "sent while it moves")

    said: list[str] = []
    sender = asyncio.create_task(mid_move())
    assert await evacuation.watch(sessions, source_id, ids, say=said.append, timeout=60, poll_seconds=0.1)
    await sender
    assert len(said) == FLEET and said[-1].startswith(f"{FLEET}/{FLEET} moved")

    after = await _rows(sessions)
    assert {r.host_server_id for r in after} == {hosts["b"]}
    assert all(r.moved_from_host_id is None and r.move_requested_at is None for r in after)
    assert a.list_containers() == [] and a.list_volumes() == []  # the old host keeps nothing of theirs
    for row in after:
        assert b.read_file(row.container_id, "workspace/MEMORY.md") == f"# {row.user_id}\n".encode()
    await wait_for(lambda: _answers(sessions, moving.user_id, "sent while it moves"), timeout=30, message="the answer")
    await reconciler.run_pass()
    assert await _answers(sessions, moving.user_id, "sent while it moves") == 1
    async with sessions() as session:
        message = await session.scalar(select(InboundMessage).where(InboundMessage.user_id == moving.user_id))
    assert message.status == "DONE"
    async with sessions() as session:
        assert (await session.get(HostServer, hosts["a"])).draining


async def test_a_rebalance_moves_only_so_many_to_the_host_named_and_leaves_the_host_open(fleet, sessions):
    hosts = await _host_ids(sessions)
    source_id, ids = await evacuation.start(sessions, evacuation.Request("a", to="b", count=1))
    assert len(ids) == 1
    assert await evacuation.watch(sessions, source_id, ids, say=lambda _: None, timeout=60, poll_seconds=0.1)
    rows = await _rows(sessions)
    assert sorted(r.host_server_id == hosts["b"] for r in rows) == [False, False, True]
    async with sessions() as session:
        assert not (await session.get(HostServer, hosts["a"])).draining
