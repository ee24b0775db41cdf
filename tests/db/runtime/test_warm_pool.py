"""The warm pool with the real reconciler and the stand-in runtime: filled, handed to a new user by a config
write and a record, refilled; a dead one destroyed with its volume; and no container or volume ever given to
two users, whatever order hand-offs, deletes and destroys land in (an account deleted outright included)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import select, update

from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import AccountDeletion, Assistant, HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime import openclaw_config, planner, user_data
from yourclaw.runtime.apply import Applier
from yourclaw.runtime.container_spec import container_name, pool_volume_name
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import ensure_standin_host, host_factory
from yourclaw.userdata import repository as userdata_repo

pytestmark = pytest.mark.db


@pytest.fixture
async def pooled(database_url, sessions, db, tmp_path):
    settings = make_settings(database_url, MOCK_CONTAINERS="true", WARM_POOL_SIZE="2", YOURCLAW_STATE_DIR=str(tmp_path))
    box = SecretBox(settings.fernet_keys)
    async with transaction(sessions) as session:
        await ensure_standin_host(session, max_containers=10)
    reconciler = Reconciler(settings, sessions, box, host_factory(settings))
    try:
        yield settings, box, reconciler
    finally:
        reconciler.close()


async def _host(sessions) -> HostServer:
    async with sessions() as session:
        return (await session.scalars(select(HostServer))).one()


async def _pool(reconciler, host_id, size: int = 2):
    """Passes until the host holds `size` running, unclaimed pool containers; their list."""

    async def full():
        await reconciler.run_pass(volumes=True)
        await reconciler.settle(timeout=10)
        async with reconciler.sessions() as session:
            claimed = set((await session.scalars(select(Assistant.container_id))).all())
        running = [
            c
            for c in reconciler.handles[host_id].client.list_containers()
            if c.pool_id is not None and c.running and c.id not in claimed
        ]
        return (running,) if len(running) == size else None

    (running,) = await wait_for(full, timeout=20, message=f"a pool of {size}")
    return running


def _config(client, container_id) -> dict:
    return json.loads(client.read_file(container_id, openclaw_config.CONFIG_PATH))


async def _row(sessions, assistant_id) -> Assistant:
    async with sessions() as session:
        return await session.get(Assistant, assistant_id)


async def test_a_new_user_is_handed_a_warm_container_and_the_pool_is_refilled(pooled, sessions):
    settings, box, reconciler = pooled
    host = await _host(sessions)
    before = await _pool(reconciler, host.id)
    client = reconciler.handles[host.id].client
    placeholder = _config(client, before[0].id)["channels"]["yourclaw"]
    assert placeholder["token"].startswith("ycwarm_") and placeholder["userId"] == str(before[0].pool_id)

    user_id, assistant_id, token = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")

    async def handed():
        await reconciler.run_pass()
        await reconciler.settle(timeout=10)
        row = await _row(sessions, assistant_id)
        return row if row.container_id and row.written_generation else None

    row = await wait_for(handed, timeout=20, message="the hand-off")
    warmest = before[0]
    assert row.container_id == warmest.id and row.volume == pool_volume_name(warmest.pool_id)
    assert row.handed_off_at is not None and row.host_server_id == host.id
    channel = _config(client, warmest.id)["channels"]["yourclaw"]
    assert channel == {**channel, "token": token, "userId": str(user_id), "generation": row.written_generation}
    # The user's spec is the container's: no recreate follows the hand-off.
    listed = {c.id: c for c in client.list_containers()}
    assert listed[warmest.id].spec_hash == row.container_spec_hash

    after = await _pool(reconciler, host.id)
    assert warmest.id not in {c.id for c in after}
    # Each pool container ran its warm-up turn (the stand-in's is instant).
    await wait_for(lambda: {c.id for c in after} <= reconciler.warm_state.warmed, timeout=10, message="warm-ups")
    assert (await _row(sessions, assistant_id)).container_id == warmest.id  # still theirs, never the pool's


async def test_a_pool_container_that_dies_is_destroyed_with_its_volume_and_replaced(pooled, sessions):
    _, _, reconciler = pooled
    host = await _host(sessions)
    before = await _pool(reconciler, host.id)
    client = reconciler.handles[host.id].client
    dead = before[0]
    client.stop(dead.id)
    after = await _pool(reconciler, host.id)
    assert dead.id not in {c.id for c in client.list_containers()}  # never restarted
    assert pool_volume_name(dead.pool_id) not in {v.name for v in client.list_volumes()}
    assert len(after) == 2


async def test_a_draining_host_gives_up_its_pool(pooled, sessions):
    _, _, reconciler = pooled
    host = await _host(sessions)
    await _pool(reconciler, host.id)
    async with transaction(sessions) as session:
        await session.execute(update(HostServer).values(draining=True))
    await _pool(reconciler, host.id, size=0)
    client = reconciler.handles[host.id].client
    assert [v for v in client.list_volumes() if v.pool_id is not None] == []


def _applier(settings, sessions, box, reconciler, host, rows, tokens) -> Applier:
    handle = reconciler.handles[host.id]
    return Applier(
        settings,
        sessions,
        box,
        {host.id: HostHandle(host.id, handle.client, anyio.CapacityLimiter(2))},
        {host.id: host},
        {r.id: r for r in rows},
        tokens,
        datetime.now(UTC),
    )


async def test_one_container_handed_to_two_users_is_recorded_for_one_and_written_for_one(pooled, sessions):
    settings, box, reconciler = pooled
    host = await _host(sessions)
    warm = (await _pool(reconciler, host.id))[0]
    client = reconciler.handles[host.id].client
    first = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    second = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    rows = [await _row(sessions, first[1]), await _row(sessions, second[1])]
    applier = _applier(settings, sessions, box, reconciler, host, rows, {first[1]: first[2], second[1]: second[2]})
    volume = pool_volume_name(warm.pool_id)
    # Two passes' plans for the same container (the first still in flight when the second was made).
    await applier.run(planner.HandOff(first[1], host.id, warm.id, volume))
    await applier.run(planner.HandOff(second[1], host.id, warm.id, volume))
    winner, loser = await _row(sessions, first[1]), await _row(sessions, second[1])
    assert (winner.container_id, winner.volume) == (warm.id, volume)
    assert (loser.container_id, loser.volume, loser.host_server_id) == (None, None, None)
    assert _config(client, warm.id)["channels"]["yourclaw"]["token"] == first[2]
    # And a destroy planned from an older view spares it: it is a user's now.
    await applier.run(planner.DestroyPool(host.id, warm.id, volume, "surplus"))
    assert warm.id in {c.id for c in client.list_containers()}
    assert volume in {v.name for v in client.list_volumes()}


async def test_a_user_who_deleted_before_the_hand_off_landed_gets_nothing_written(pooled, sessions):
    settings, box, reconciler = pooled
    host = await _host(sessions)
    warm = (await _pool(reconciler, host.id))[0]
    client = reconciler.handles[host.id].client
    user_id, assistant_id, token = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    stale = await _row(sessions, assistant_id)
    async with transaction(sessions) as session:
        await session.execute(
            update(Assistant).where(Assistant.id == assistant_id).values(wanted=False, deleted_at=datetime.now(UTC))
        )
    applier = _applier(settings, sessions, box, reconciler, host, [stale], {assistant_id: token})
    await applier.run(planner.HandOff(assistant_id, host.id, warm.id, pool_volume_name(warm.pool_id)))
    assert (await _row(sessions, assistant_id)).container_id is None
    assert _config(client, warm.id)["channels"]["yourclaw"]["userId"] == str(warm.pool_id)
    assert user_id != uuid.UUID(int=0)


async def test_a_delete_right_after_a_hand_off_removes_the_container_and_never_pools_it_again(pooled, sessions):
    _, box, reconciler = pooled
    host = await _host(sessions)
    await _pool(reconciler, host.id)
    client = reconciler.handles[host.id].client
    _, assistant_id, _ = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")

    async def handed():
        await reconciler.run_pass()
        await reconciler.settle(timeout=10)
        row = await _row(sessions, assistant_id)
        return row if row.container_id and row.written_generation else None

    row = await wait_for(handed, timeout=20, message="the hand-off")
    async with transaction(sessions) as session:
        await session.execute(
            update(Assistant).where(Assistant.id == assistant_id).values(wanted=False, deleted_at=datetime.now(UTC))
        )
    pool = await _pool(reconciler, host.id)
    assert row.container_id not in {c.id for c in client.list_containers()}
    assert row.container_id not in {c.id for c in pool}
    # The volume stays the deleted user's (kept for the retention period), and is no pool's.
    assert row.volume in {v.name for v in client.list_volumes()}
    async with sessions() as session:
        owners = (await session.scalars(select(Assistant.id).where(Assistant.volume == row.volume))).all()
    assert owners == [assistant_id]


async def _handed_off(reconciler, sessions, assistant_id) -> Assistant:
    async def handed():
        await reconciler.run_pass()
        await reconciler.settle(timeout=10)
        row = await _row(sessions, assistant_id)
        return row if row.container_id and row.written_generation else None

    return await wait_for(handed, timeout=20, message="the hand-off")


async def _delete_account(sessions, user_id) -> None:
    async with transaction(sessions) as session:
        await userdata_repo.delete_account(session, user_id)


async def test_a_deleted_accounts_container_never_goes_to_the_next_user_and_goes_with_its_volume(pooled, sessions):
    """A's row goes with their account while their container still runs, labelled as the pool's: the next
    new user gets a fresh one, and A's container and files are removed."""
    _, box, reconciler = pooled
    host = await _host(sessions)
    await _pool(reconciler, host.id)
    client = reconciler.handles[host.id].client
    user_a, assistant_a, _ = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    row_a = await _handed_off(reconciler, sessions, assistant_a)
    listed = {c.id: c for c in client.list_containers()}
    assert listed[row_a.container_id].name == container_name(user_a)  # renamed at the hand-off
    secret = b"A's sister is Ines"
    client.write_files(row_a.container_id, {"workspace/MEMORY.md": (secret, 0o644)})
    # The pool is full again, and A's container, made first and warmed, would be the warmest in it.
    await _pool(reconciler, host.id)
    assert row_a.container_id in reconciler.warm_state.warmed

    await _delete_account(sessions, user_a)
    user_b, assistant_b, token_b = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    row_b = await _handed_off(reconciler, sessions, assistant_b)
    assert row_b.container_id != row_a.container_id and row_b.volume != row_a.volume
    assert _config(client, row_b.container_id)["channels"]["yourclaw"]["token"] == token_b
    assert client.read_file(row_b.container_id, "workspace/MEMORY.md") is None

    async def purged():
        await reconciler.run_pass(volumes=True)
        await reconciler.settle(timeout=10)
        async with sessions() as session:
            tombstone = await session.get(AccountDeletion, user_a)
        containers = {c.id for c in client.list_containers()}
        volumes = {v.name for v in client.list_volumes()}
        gone = row_a.container_id not in containers and row_a.volume not in volumes
        return gone and tombstone.fleet_purged_at is not None

    await wait_for(purged, timeout=20, message="A's container and volume removed")
    assert (await _row(sessions, assistant_b)).container_id == row_b.container_id  # B's untouched
    assert user_b != user_a


async def test_the_purge_removes_a_deleted_accounts_handed_off_container_and_its_pool_volume(pooled, sessions):
    """Found by the name its hand-off gave it (it carries no user label) and its volume by its mounts."""
    _, box, reconciler = pooled
    host = await _host(sessions)
    await _pool(reconciler, host.id)
    client = reconciler.handles[host.id].client
    user_a, assistant_a, _ = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    row_a = await _handed_off(reconciler, sessions, assistant_a)
    others = {c.id for c in client.list_containers()} - {row_a.container_id}
    await _delete_account(sessions, user_a)

    assert await user_data.purge_deleted_accounts(reconciler.settings, sessions, reconciler.handles, True) == 1
    assert {c.id for c in client.list_containers()} == others  # the pool's own are not the purge's
    assert row_a.volume not in {v.name for v in client.list_volumes()}
    async with sessions() as session:
        assert (await session.get(AccountDeletion, user_a)).fleet_purged_at is not None
