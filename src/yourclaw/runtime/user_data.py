"""The fleet's part of the user's own data, done by the reconciler because it alone talks to the Docker hosts
(the API writes requests, never calls an engine):

- an export's workspace: the `workspace/` directory of the user's volume (their memory files, MEMORY.md and
  memory/, and whatever the assistant keeps there), read as a tar through the Docker API into the export row.
  The rest of the volume (openclaw.json with the assistant's token, OpenClaw's state database) stays out.
- a deleted account's containers and volumes, removed on every host (a warm-pool container it was handed is
  found by its renamed name, its volume by the container's mounts), and its volume's backups in the backup
  bucket; done once every host and the bucket have answered.

Each item is its own transaction: one that fails stays local and is tried again at the next pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta

import anyio
import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import AccountDeletion, Assistant, DataExport
from yourclaw.kit.settings import Settings
from yourclaw.runtime import pending_requests
from yourclaw.runtime.backup_store import BackupStore
from yourclaw.runtime.container_spec import container_name, volume_name
from yourclaw.runtime.host_client import ArchiveTooLarge
from yourclaw.runtime.host_handle import HostHandle

log = structlog.get_logger(__name__)

WORKSPACE = "workspace"
BATCH = 5  # exports read per pass: each may be megabytes


async def fulfil_exports(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], handles: Mapping[uuid.UUID, HostHandle]
) -> int:
    """Reads the workspace for pending exports whose volume's host answered this pass; returns how many."""
    async with sessions() as session:
        pending = (
            await session.execute(
                select(DataExport.id, DataExport.user_id, Assistant.host_server_id, Assistant.volume)
                .outerjoin(Assistant, Assistant.user_id == DataExport.user_id)
                .where(DataExport.status == "PENDING")
                .order_by(DataExport.requested_at)
                .limit(BATCH)
            )
        ).all()

    async def step(export, handle: HostHandle | None) -> dict[str, object]:
        if handle is None:
            return {"status": "READY"}  # never placed: no volume, nothing to read
        try:
            tar = await handle.call(
                handle.client.archive_volume,
                export.volume or volume_name(export.user_id),
                settings.assistant_image,
                WORKSPACE,
                settings.export_max_bytes,
            )
            return {"status": "READY", "workspace_tar": tar, "workspace_bytes": len(tar) if tar else None}
        except ArchiveTooLarge:
            return {
                "status": "FAILED",
                "error": f"The assistant's workspace is larger than an export may be "
                f"({settings.export_max_bytes // (1024 * 1024)} MiB, EXPORT_MAX_BYTES)",
            }

    def failed(export, exc: Exception) -> None:
        log.warning("export_read_failed", export_id=str(export.id), error=type(exc).__name__)

    async def record(export, values: dict[str, object]) -> None:
        async with sessions() as session, session.begin():
            await session.execute(
                update(DataExport)
                .where(DataExport.id == export.id, DataExport.status == "PENDING")
                .values(finished_at=func.now(), **values)
            )
        log.info("export_read", export_id=str(export.id), status=values["status"])

    return await pending_requests.fulfil(
        pending, handles, host_of=lambda export: export.host_server_id, step=step, failed=failed, record=record
    )


async def forget_old_exports(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """An export holds the user's files: kept EXPORT_RETENTION_HOURS after it was made, then deleted."""
    async with sessions() as session, session.begin():
        await session.execute(
            delete(DataExport).where(
                DataExport.finished_at < func.now() - timedelta(hours=settings.export_retention_hours)
            )
        )


async def purge_deleted_accounts(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    handles: Mapping[uuid.UUID, HostHandle],
    all_hosts_answered: bool,
) -> int:
    """Removes every container of a deleted account (labelled with it, or a pool container renamed after it)
    with the volumes it mounts, and every volume labelled with it, on every host; the deletion is marked done
    only when every host answered (a host that was down may still hold the volume)."""
    async with sessions() as session:
        users = set(
            (
                await session.scalars(select(AccountDeletion.user_id).where(AccountDeletion.fleet_purged_at.is_(None)))
            ).all()
        )
    if not users:
        return 0
    complete = all_hosts_answered
    # A container handed over from the warm pool carries a pool label, not the user's: it is known by the name
    # its hand-off gave it, and its volume (named after the pool) by its mounts.
    named = {container_name(user_id) for user_id in users}
    for handle in handles.values():
        try:
            for container in await handle.call(handle.client.list_containers):
                if container.user_id in users or container.name in named:
                    await handle.call(handle.client.remove, container.id)
                    for mounted in container.volumes:
                        await handle.call(handle.client.remove_volume, mounted)
            for volume in await handle.call(handle.client.list_volumes):
                if volume.user_id in users:
                    await handle.call(handle.client.remove_volume, volume.name)
        except Exception as exc:  # noqa: BLE001  (that host is tried again next pass)
            complete = False
            log.warning("account_purge_failed", host=handle.client.name, error=type(exc).__name__)
    if settings.backup_bucket:
        try:
            store = BackupStore(settings)
            for user_id in users:  # by the user's prefix: their backup rows went with their account
                await anyio.to_thread.run_sync(store.delete_user, user_id)
        except Exception as exc:  # noqa: BLE001  (tried again next pass)
            complete = False
            log.warning("account_backups_purge_failed", error=type(exc).__name__)
    if complete:
        async with sessions() as session, session.begin():
            await session.execute(
                update(AccountDeletion).where(AccountDeletion.user_id.in_(users)).values(fleet_purged_at=func.now())
            )
        log.info("accounts_purged", count=len(users))
    return len(users)
