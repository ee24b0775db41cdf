"""The warm pool on two real Docker engines over mutual TLS, with stand-in assistants polling the real API:
a new user is handed a started pool container (renamed after them) and is READY without a container start; the
pool refills; a pool container that dies is destroyed with its volume, never restarted; a deleted account's
container is removed with its pool volume, never handed to the next user."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.engine.runtime.test_reconciler import _create, cp  # noqa: F401  (the fixture, with its engines)
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, Outbox
from yourclaw.runtime.apply import READY_MESSAGE
from yourclaw.runtime.container_spec import LABEL_POOL, LABEL_USER, container_name, pool_volume_name
from yourclaw.userdata import repository as userdata_repo

pytestmark = pytest.mark.engine
POOLED = {"WARM_POOL_SIZE": "1"}


def _unclaimed(client, claimed: set[str]) -> list:
    found = client.containers.list(filters={"label": LABEL_POOL, "status": "running"}, sparse=True)
    return [c for c in found if c.id not in claimed]


async def _claimed(cp) -> set[str]:  # noqa: F811
    async with cp.sessions() as session:
        return {cid for cid in (await session.scalars(select(Assistant.container_id))).all() if cid}


async def _full_pools(cp) -> dict[str, list]:  # noqa: F811
    async def full():
        claimed = await _claimed(cp)
        pools = {"e1": _unclaimed(cp.e1, claimed), "e2": _unclaimed(cp.e2, claimed)}
        return pools if all(len(p) == 1 for p in pools.values()) else None

    return await wait_for(full, timeout=60, interval=0.2, message="one pool container per host")


@pytest.mark.parametrize("cp", [POOLED], indirect=True)
async def test_a_new_user_is_handed_a_pool_container_and_the_pool_refills(cp):  # noqa: F811
    pools = await _full_pools(cp)
    pooled = {c.id for p in pools.values() for c in p}
    _, user_id = await _create(cp)
    row = await cp.ready(user_id)
    assert row.container_id in pooled and row.handed_off_at is not None
    info = cp.engine_of(row).api.inspect_container(row.container_id)
    labels = info["Config"]["Labels"]
    assert LABEL_USER not in labels
    assert info["Name"] == f"/{container_name(user_id)}"  # renamed while it ran: no longer the pool's
    assert row.volume == pool_volume_name(uuid.UUID(labels[LABEL_POOL]))
    mounts = [m["Name"] for m in info["Mounts"] if m.get("Type") == "volume"]
    assert mounts == [row.volume]
    async with cp.sessions() as session:
        sent = (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id))).all()
    assert sent == [READY_MESSAGE]
    refilled = await _full_pools(cp)
    assert row.container_id not in {c.id for p in refilled.values() for c in p}
    # No recreate follows: the user's container spec is the pool container's.
    for _ in range(3):
        await cp.reconciler.run_pass()
    assert (await cp.row(user_id)).container_id == row.container_id


@pytest.mark.parametrize("cp", [POOLED], indirect=True)
async def test_a_pool_container_that_dies_is_destroyed_with_its_volume(cp):  # noqa: F811
    pools = await _full_pools(cp)
    dead = pools["e1"][0]
    labels = cp.e1.api.inspect_container(dead.id)["Config"]["Labels"]
    volume = pool_volume_name(uuid.UUID(labels[LABEL_POOL]))
    cp.e1.api.kill(dead.id)

    def gone() -> bool:
        ids = {c.id for c in cp.e1.containers.list(all=True, sparse=True)}
        return dead.id not in ids and volume not in {v.name for v in cp.e1.volumes.list()}

    await wait_for(gone, timeout=30, interval=0.2, message="the dead pool container and its volume to go")
    await _full_pools(cp)


@pytest.mark.parametrize("cp", [POOLED], indirect=True)
async def test_a_deleted_accounts_container_goes_with_its_volume_and_the_next_user_gets_another(cp):  # noqa: F811
    await _full_pools(cp)
    _, user_a = await _create(cp)
    row_a = await cp.ready(user_a)
    engine = cp.engine_of(row_a)
    await _full_pools(cp)
    # What the purge reads: the renamed container and the volume it mounts, from the engine's list.
    listed = {c.id: c for c in cp.reconciler.handles[row_a.host_server_id].client.list_containers()}
    assert listed[row_a.container_id].name == container_name(user_a)
    assert listed[row_a.container_id].volumes == (row_a.volume,)
    async with transaction(cp.sessions) as session:
        await userdata_repo.delete_account(session, user_a)

    def gone() -> bool:
        ids = {c.id for c in engine.containers.list(all=True, sparse=True)}
        return row_a.container_id not in ids and row_a.volume not in {v.name for v in engine.volumes.list()}

    await wait_for(gone, timeout=30, interval=0.2, message="A's container and pool volume to go")
    _, user_b = await _create(cp)
    row_b = await cp.ready(user_b)
    assert row_b.container_id != row_a.container_id and row_b.volume != row_a.volume
    assert row_b.handed_off_at is not None  # a pool container all the same, a fresh one
