"""Volume backups on the stand-in runtime against a real S3 API (moto in server mode): the reconciler takes one
per interval (without the config, which holds the token), keeps what retention says, restores one on an
operator's ask into a fresh volume and brings the assistant back on it, and removes them all with the account."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.harness.database import truncate
from tests.harness.settings import make_settings
from tests.harness.standin_fleet import assistants, standin_fleet
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import AccountDeletion, BackupRestore, User, VolumeBackup
from yourclaw.runtime import backups
from yourclaw.runtime.backup_store import BackupStore
from yourclaw.runtime.container_spec import volume_name

pytestmark = pytest.mark.db

MEMORY = b"# Memory\n- Likes tea.\n"


@pytest.fixture
async def fleet(database_url, sessions, tmp_path, engine, s3):
    try:
        async with standin_fleet(
            database_url, sessions, tmp_path / "state", BACKUP_INTERVAL_HOURS="1", BACKUP_KEEP="2"
        ) as made:
            yield made
    finally:
        await truncate(engine)


async def _backups(sessions, user_id) -> list[VolumeBackup]:
    async with sessions() as session:
        return await backups.list_backups(session, user_id)


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


async def test_backups_are_taken_kept_restored_and_deleted_with_the_account(fleet, sessions, s3):
    (user_id,) = fleet.users
    (row,) = await assistants(sessions)
    host = fleet.reconciler.handles[row.host_server_id].client
    host.write_files(row.container_id, {"workspace/MEMORY.md": (MEMORY, 0o644)})

    fleet.reconciler.settings = s3.turned_on(fleet.reconciler.settings)  # the first backup comes after the write
    (first,) = await wait_for(lambda: _backups(sessions, user_id), timeout=30, message="the first backup")
    stored = _members(s3.client().get_object(Bucket=s3.bucket, Key=first.object_key)["Body"].read())
    assert stored[".openclaw/workspace/MEMORY.md"] == MEMORY
    assert ".openclaw/openclaw.json" not in stored  # the assistant's token stays out of the bucket
    assert first.size_bytes > 0 and first.object_key.startswith(f"volumes/{user_id}/")

    # Due again after the interval; retention keeps the newest two.
    for _ in range(2):
        newest = (await _backups(sessions, user_id))[0].id
        await _age(sessions)
        await wait_for(lambda newest=newest: _next(sessions, user_id, newest), timeout=30, message="the next backup")
    kept = await _backups(sessions, user_id)
    assert s3.keys() == sorted(b.object_key for b in kept)

    # What the user wrote after the backup is undone by the restore; what was in it comes back.
    host.write_files(row.container_id, {"workspace/MEMORY.md": (b"overwritten\n", 0o644)})
    async with transaction(sessions) as session:
        restore = await backups.request_restore(session, user_id, None)
    assert restore.backup_id == kept[0].id

    async def restored():
        async with sessions() as session:
            state, assistant = await backups.restore_state(session, restore.id)
        return state.status == "DONE" and assistant.phase == "ready" and assistant

    back = await wait_for(restored, timeout=30, message="the restore")
    assert back.volume != volume_name(user_id) and back.container_id != row.container_id
    assert host.read_file(back.container_id, "workspace/MEMORY.md") == MEMORY
    assert volume_name(user_id) not in {v.name for v in host.list_volumes()}  # the old volume went after

    async with transaction(sessions) as session:
        with pytest.raises(backups.NoBackup):
            await backups.request_restore(session, user_id, restore.id)  # not a backup's id

    async with transaction(sessions) as session:
        await session.delete(await session.get(User, user_id))
        session.add(AccountDeletion(user_id=user_id))

    async def purged():
        async with sessions() as session:
            return await session.scalar(select(AccountDeletion.fleet_purged_at))

    await wait_for(purged, timeout=30, message="the account purged")
    assert s3.keys() == []
    async with sessions() as session:
        assert (await session.scalars(select(BackupRestore))).all() == []


async def _age(sessions) -> None:
    """Every backup two hours older: past BACKUP_INTERVAL_HOURS, so the next one is due."""
    async with transaction(sessions) as session:
        await session.execute(update(VolumeBackup).values(created_at=VolumeBackup.created_at - timedelta(hours=2)))


async def _next(sessions, user_id, newest) -> bool:
    """A backup newer than `newest`, with retention done: two kept."""
    found = await _backups(sessions, user_id)
    return found[0].id != newest and len(found) == 2


def test_a_large_volume_goes_up_in_parts_and_comes_back_whole(database_url, s3):
    """Past boto3's multipart threshold, from uneven chunks as an engine streams them."""
    store = BackupStore(make_settings(database_url, **s3.settings()))
    data = bytes(range(256)) * (20 * 4096)  # 20 MiB
    chunks = (data[i : i + 777_777] for i in range(0, len(data), 777_777))
    assert store.put("volumes/large.tar", chunks) == len(data)
    assert b"".join(store.get("volumes/large.tar")) == data
