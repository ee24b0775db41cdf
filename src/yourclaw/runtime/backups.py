"""Each user's volume backed up to the backup bucket every BACKUP_INTERVAL_HOURS, by the reconciler (it alone
talks to the hosts), and what the operator's `yourclaw backups` asks for.

A backup is the volume as a tar through the Docker API (`volume_tar`, read by a helper that mounts it read-only
and never runs, so the assistant keeps running), without `openclaw.json` (it holds the assistant's token;
a restored assistant gets a fresh config), streamed into one object (`backup_store`). Retention: the newest
BACKUP_KEEP, and none older than BACKUP_KEEP_DAYS but the newest. A restore is a row the reconciler fulfils
(`runtime.moves.Restore`, carried out by `volume_apply`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import anyio
import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db import channels
from yourclaw.db.models import Assistant, BackupRestore, VolumeBackup
from yourclaw.kit.settings import Settings
from yourclaw.observability import metrics
from yourclaw.runtime import pending_requests, volume_tar
from yourclaw.runtime.backup_store import BackupStore, object_key
from yourclaw.runtime.container_spec import volume_name
from yourclaw.runtime.host_handle import HostHandle

log = structlog.get_logger(__name__)

BATCH = 3  # backups taken per round: each streams a whole volume


class NoBackup(LookupError):
    """The user has no backup (of that id)."""


async def due(session: AsyncSession, settings: Settings, host_ids: set[uuid.UUID]) -> list[Assistant]:
    """Placed assistants on the hosts given, never backed up or not for BACKUP_INTERVAL_HOURS, oldest first."""
    latest = (
        select(VolumeBackup.user_id, func.max(VolumeBackup.created_at).label("at"))
        .group_by(VolumeBackup.user_id)
        .subquery()
    )
    cutoff = datetime.now(UTC) - timedelta(hours=settings.backup_interval_hours)
    query = (
        select(Assistant)
        .outerjoin(latest, latest.c.user_id == Assistant.user_id)
        .where(
            Assistant.wanted.is_(True),
            Assistant.ready_at.is_not(None),
            Assistant.host_server_id.in_(host_ids),
            Assistant.phase.not_in(("moving", "restoring")),
            (latest.c.at.is_(None)) | (latest.c.at < cutoff),
        )
        .order_by(latest.c.at.asc().nulls_first())
        .limit(BATCH)
    )
    return list((await session.scalars(query)).all())


async def take_due(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], handles: Mapping[uuid.UUID, HostHandle]
) -> int:
    """Backs up the assistants that are due on the hosts that answered; returns how many were taken."""
    async with sessions() as session:
        rows = await due(session, settings, set(handles))
    store = BackupStore(settings)

    def failed(row: Assistant, exc: Exception) -> None:  # one user's backup never stops the others
        log.warning("backup_failed", user_id=str(row.user_id), error=type(exc).__name__)

    return await pending_requests.fulfil(
        rows,
        handles,
        host_of=lambda row: row.host_server_id,
        step=lambda row, handle: take(settings, sessions, handle, store, row),
        failed=failed,
    )


async def take(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], handle: HostHandle, store: BackupStore, row
) -> VolumeBackup | None:
    backup_id, now = uuid.uuid4(), datetime.now(UTC)
    key = object_key(row.user_id, backup_id, now)

    def stream() -> int | None:
        with handle.client.volume_out(row.volume or volume_name(row.user_id), settings.assistant_image) as chunks:
            return None if chunks is None else store.put(key, volume_tar.without(chunks))

    started = time.monotonic()
    try:
        size = await anyio.to_thread.run_sync(stream, limiter=handle.limiter)
    except Exception:
        metrics.BACKUPS.labels("failed").inc()
        raise
    if size is None:
        metrics.BACKUPS.labels("skipped").inc()
        return None
    async with sessions() as session, session.begin():
        backup = VolumeBackup(id=backup_id, user_id=row.user_id, object_key=key, size_bytes=size, created_at=now)
        session.add(backup)
    metrics.BACKUPS.labels("ok").inc()
    metrics.BACKUP_SECONDS.observe(time.monotonic() - started)
    metrics.BACKUP_BYTES.inc(size)
    await retain(settings, sessions, store, row.user_id)
    log.info("volume_backed_up", user_id=str(row.user_id), bytes=size)
    return backup


def expired(created: list[datetime], keep: int, keep_days: float, now: datetime) -> list[int]:
    """Which of the backups (newest first) retention removes: past the newest `keep`, or older than
    `keep_days`; never the newest."""
    horizon = now - timedelta(days=keep_days)
    return [i for i, at in enumerate(created) if i > 0 and (i >= keep or at < horizon)]


async def retain(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], store: BackupStore, user_id: uuid.UUID
) -> None:
    async with sessions() as session:
        backups = await list_backups(session, user_id)
    gone = [
        backups[i]
        for i in expired(
            [b.created_at for b in backups], settings.backup_keep, settings.backup_keep_days, datetime.now(UTC)
        )
    ]
    if not gone:
        return
    await anyio.to_thread.run_sync(store.delete, [b.object_key for b in gone])
    async with sessions() as session, session.begin():
        await session.execute(delete(VolumeBackup).where(VolumeBackup.id.in_([b.id for b in gone])))


# --- the operator's -------------------------------------------------------------------------------


async def list_backups(session: AsyncSession, user_id: uuid.UUID) -> list[VolumeBackup]:
    """Newest first."""
    query = select(VolumeBackup).where(VolumeBackup.user_id == user_id).order_by(VolumeBackup.created_at.desc())
    return list((await session.scalars(query)).all())


async def request_restore(session: AsyncSession, user_id: uuid.UUID, backup_id: uuid.UUID | None) -> BackupRestore:
    """The newest backup, or the one named; the reconciler is woken to do it."""
    query = select(VolumeBackup).where(VolumeBackup.user_id == user_id)
    if backup_id is not None:
        query = query.where(VolumeBackup.id == backup_id)
    backup = await session.scalar(query.order_by(VolumeBackup.created_at.desc()).limit(1))
    if backup is None:
        raise NoBackup("no such backup" if backup_id else "this user has no backup yet")
    restore = BackupRestore(user_id=user_id, backup_id=backup.id)
    session.add(restore)
    await session.flush()
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))
    return restore


async def restore_state(session: AsyncSession, restore_id: uuid.UUID) -> tuple[BackupRestore, Assistant | None]:
    restore = await session.get(BackupRestore, restore_id, populate_existing=True)
    assistant = await session.scalar(
        select(Assistant).where(Assistant.user_id == restore.user_id).execution_options(populate_existing=True)
    )
    return restore, assistant
