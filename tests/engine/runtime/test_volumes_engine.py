"""A user's volume through the Docker API between two real engines over mutual TLS: `yourclaw hosts evacuate`
moves several assistants one at a time onto the other engine's `yourclaw-volumes` disks (a message sent
mid-move is answered once, after), and a backup in a real S3 API (moto in server mode) restores a file the
assistant wrote."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from tests.engine.runtime.test_reconciler import READY_TIMEOUT, _create, cp  # noqa: F401  (the fixture)
from tests.harness.assistant_protocol import queue_message
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Outbox
from yourclaw.fleet import evacuation
from yourclaw.runtime import backups
from yourclaw.runtime import repository as runtime_repo
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_USER, volume_name

pytestmark = pytest.mark.engine

FLEET = 3
BIG = 32 * 1024 * 1024
SIZED = {"VOLUME_DRIVER": "yourclaw-volumes", "VOLUME_SIZE": "64m", "CONTAINER_MEMORY": "256m"}


def _write(client, container_id: str, text: str) -> None:
    run = client.api.exec_create(container_id, ["sh", "-c", f"echo '{text}' > {DATA_DIR}/workspace/MEMORY.md"])
    client.api.exec_start(run)


def _read(client, container_id: str) -> bytes:
    return client.api.exec_start(client.api.exec_create(container_id, ["cat", f"{DATA_DIR}/workspace/MEMORY.md"]))


async def _answers(cp, user_id, text: str) -> int:  # noqa: F811
    async with cp.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.user_id == user_id, Outbox.body == f"echo: {text}")
        )


@pytest.mark.parametrize("cp", [SIZED], indirect=True)
async def test_evacuating_a_host_moves_everyone_with_their_files_and_a_message_mid_move_is_answered_once(cp):  # noqa: F811
    async with transaction(cp.sessions) as session:
        await runtime_repo.set_draining(session, "yc-e2", True)  # everyone on e1 first
    users = [(await _create(cp))[1] for _ in range(FLEET)]
    rows = [await cp.ready(user_id) for user_id in users]
    async with transaction(cp.sessions) as session:
        await runtime_repo.set_draining(session, "yc-e2", False)
    for row in rows:
        _write(cp.e1, row.container_id, f"memory of {row.user_id}")
    # One with something sizeable (a volume streams at what the engines and the network give; see the log's
    # `volume_moved` seconds).
    big = f"{DATA_DIR}/workspace/big.bin"
    cp.e1.api.exec_start(
        cp.e1.api.exec_create(rows[0].container_id, ["sh", "-c", f"head -c {BIG} /dev/urandom > {big}"])
    )

    source_id, ids = await evacuation.start(cp.sessions, evacuation.Request("yc-e1"))
    assert len(ids) == FLEET
    moving = rows[1]

    async def on_its_way():
        return (await cp.row(moving.user_id)).phase == "moving"

    said: list[str] = []
    started = time.monotonic()
    watching = evacuation.watch(cp.sessions, source_id, ids, say=said.append, timeout=FLEET * READY_TIMEOUT)
    watcher = asyncio.create_task(watching)
    await wait_for(on_its_way, timeout=READY_TIMEOUT, interval=0.02, message="the second assistant moving")
    await queue_message(cp.sessions, moving.user_id, "sent while it moves")
    assert await watcher
    took = time.monotonic() - started
    print(f"evacuated {FLEET} assistants in {took:.1f} s ({took / FLEET:.1f} s each): {said}")

    for row in rows:
        after = await cp.row(row.user_id)
        assert after.host_server_id == cp.host_ids["yc-e2"] and after.moved_from_host_id is None
        assert _read(cp.e2, after.container_id).strip() == f"memory of {row.user_id}".encode()
        volume = cp.e2.api.inspect_volume(volume_name(row.user_id))
        assert volume["Driver"] == "yourclaw-volumes"
    first = await cp.row(rows[0].user_id)
    size = cp.e2.api.exec_start(cp.e2.api.exec_create(first.container_id, ["stat", "-c", "%s", big]))
    assert int(size) == BIG
    # e1 keeps nothing of theirs: no container, no volume.
    left = cp.e1.api.containers(all=True, filters={"label": LABEL_USER})
    assert not [c for c in left if c["Labels"][LABEL_USER] in {str(u) for u in users}]
    assert not [v for v in cp.e1.volumes.list() if v.name in {volume_name(u) for u in users}]

    await wait_for(
        lambda: _answers(cp, moving.user_id, "sent while it moves"), timeout=READY_TIMEOUT, message="the answer"
    )
    await cp.reconciler.run_pass()
    assert await _answers(cp, moving.user_id, "sent while it moves") == 1


async def test_a_backup_restores_what_the_assistant_had_written(cp, s3):  # noqa: F811
    _, user_id = await _create(cp)
    row = await cp.ready(user_id)
    client = cp.engine_of(row)
    _write(client, row.container_id, "likes tea")
    # Backups on from now (the reconciler reads its settings each pass): the first is taken after the write.
    cp.reconciler.settings = s3.turned_on(cp.reconciler.settings)

    async def backed_up():
        async with cp.sessions() as session:
            found = await backups.list_backups(session, user_id)
        return found

    started = time.monotonic()
    (backup,) = await wait_for(backed_up, timeout=READY_TIMEOUT, message="a backup")
    print(f"backup of {backup.size_bytes} bytes in {time.monotonic() - started:.1f} s")
    assert s3.keys() == [backup.object_key]

    _write(client, row.container_id, "forgot everything")
    async with transaction(cp.sessions) as session:
        restore = await backups.request_restore(session, user_id, backup.id)
    started = time.monotonic()

    async def restored():
        async with cp.sessions() as session:
            state, assistant = await backups.restore_state(session, restore.id)
        assert state.status != "FAILED", state.error
        return state.status == "DONE" and assistant.phase == "ready" and assistant

    back = await wait_for(restored, timeout=READY_TIMEOUT, message="the restore")
    print(f"restored and READY in {time.monotonic() - started:.1f} s")
    assert _read(client, back.container_id).strip() == b"likes tea"
