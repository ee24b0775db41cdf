"""The `Applier`'s work on a user's volume (`runtime.moves` plans it): a move to another host, the old host's
clean-up once the assistant is READY on the new one, and a backup restored. Each streams the volume as a tar
through the Docker API (`runtime.volume_tar`), in a thread, never holding it whole."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio
import structlog
from docker.errors import APIError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import Assistant, BackupRestore, VolumeBackup
from yourclaw.kit.settings import Settings
from yourclaw.protocol import repository as inbound
from yourclaw.runtime import moves
from yourclaw.runtime import repository as repo
from yourclaw.runtime.backup_store import BackupStore
from yourclaw.runtime.container_spec import spec_for, volume_name
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.runtime.volume_tar import Counted

log = structlog.get_logger(__name__)

# A move that failed (its container is started again where it was) is tried again after this long.
MOVE_RETRY = timedelta(minutes=1)
WAITING = "Moving to another server; messages wait for it and are answered after."


def user_volume(row: Assistant) -> str:
    return row.volume or volume_name(row.user_id)


class VolumeSteps:
    """The attributes are the `Applier`'s."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    hosts: dict[uuid.UUID, HostHandle]
    rows: dict[uuid.UUID, Assistant]
    now: datetime
    _render: Callable
    _update: Callable

    async def _move(self, action: moves.Move) -> None:
        row = self.rows[action.assistant_id]
        source, target = self.hosts[action.host_id], self.hosts[action.to_host_id]
        spec = self._render(row, row.desired_generation).spec
        await self._update(row.id, phase="moving", phase_reason=WAITING)
        started = time.monotonic()
        try:
            if action.container_id:
                await source.call(source.client.stop, action.container_id)
                await self._retire(row)

            def copy() -> int:
                with source.client.volume_out(spec.volume, spec.image) as chunks:
                    if chunks is None:
                        return 0  # never had one: the new host makes it with the container
                    counted = Counted(chunks)
                    target.client.volume_in(spec, spec.image, counted)
                    return counted.bytes

            moved = await anyio.to_thread.run_sync(copy, limiter=target.limiter)
        except Exception:
            # Back where it was (its container started again, its messages answered there); tried again later.
            if action.container_id:
                with contextlib.suppress(Exception):
                    await source.call(source.client.start, action.container_id)
            await self._update(row.id, phase="restarting", phase_reason=None, next_retry_at=self.now + MOVE_RETRY)
            raise
        async with self.sessions() as session, session.begin():
            placed = await repo.update_if_placed(
                session,
                row.id,
                action.host_id,
                host_server_id=action.to_host_id,
                container_id=None,
                moved_from_host_id=action.host_id,
                move_requested_at=None,
                move_to_host_id=None,
                next_retry_at=None,
            )
        # The next pass creates its container on the new host, on the volume now there.
        log.info(
            "volume_moved",
            user_id=str(row.user_id),
            placed=placed,
            bytes=moved,
            seconds=round(time.monotonic() - started, 2),
        )

    async def _retire(self, row: Assistant) -> None:
        """Its stopped container will not answer what it holds: back to the queue for the next container."""
        if row.instance_id:
            async with self.sessions() as session, session.begin():
                await inbound.retire_instance(session, row.user_id, row.instance_id)

    async def _finish_move(self, action: moves.FinishMove) -> None:
        """READY on the new host: only now do the old container and volume go."""
        row = self.rows[action.assistant_id]
        source = self.hosts[action.from_host_id]
        for container_id in action.container_ids:
            await source.call(source.client.remove, container_id)
        await source.call(source.client.remove_volume, user_volume(row))
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Assistant)
                .where(Assistant.id == row.id, Assistant.moved_from_host_id == action.from_host_id)
                .values(moved_from_host_id=None)
            )
        log.info("move_finished", user_id=str(row.user_id))

    def _backup_store(self) -> BackupStore:
        store = getattr(self, "_store", None)
        if store is None:
            store = self._store = BackupStore(self.settings)
        return store

    async def _restore(self, action: moves.Restore) -> None:
        """Into a fresh volume while the container is stopped; the old volume goes only once the new one is
        whole, so a failed restore loses nothing (its container is started again on the old one)."""
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        async with self.sessions() as session:
            key = await session.scalar(
                select(VolumeBackup.object_key)
                .join(BackupRestore, BackupRestore.backup_id == VolumeBackup.id)
                .where(BackupRestore.id == action.restore_id, BackupRestore.status == "PENDING")
            )
        if key is None:
            return
        await self._update(row.id, phase="restoring", phase_reason="Restoring a backup; messages wait for it.")
        spec = spec_for(
            self.settings, row.user_id, row.image, volume=f"{volume_name(row.user_id)}-r{uuid.uuid4().hex[:8]}"
        )
        try:
            if action.container_id:
                await handle.call(handle.client.stop, action.container_id)
                await self._retire(row)
            store = self._backup_store()
            await anyio.to_thread.run_sync(
                lambda: handle.client.volume_in(spec, spec.image, store.get(key)), limiter=handle.limiter
            )
        except Exception as exc:  # noqa: BLE001  (the restore fails; the assistant goes on as it was)
            with contextlib.suppress(Exception):
                await handle.call(handle.client.remove_volume, spec.volume)
            if action.container_id:
                with contextlib.suppress(Exception):
                    await handle.call(handle.client.start, action.container_id)
            await self._update(row.id, phase="restarting", phase_reason=None)
            await self._restore_done(action.restore_id, f"{type(exc).__name__}: {exc}"[:500])
            log.warning("restore_failed", user_id=str(row.user_id), error=type(exc).__name__)
            return
        if action.container_id:
            await handle.call(handle.client.remove, action.container_id)
        async with self.sessions() as session, session.begin():
            await repo.update_assistant(
                session, row.id, volume=spec.volume, container_id=None, phase="restarting", phase_reason=None
            )
        await self._restore_done(action.restore_id, None)
        try:
            await handle.call(handle.client.remove_volume, user_volume(row))
        except APIError as exc:  # left for an operator; the user's data is on the new volume
            log.warning("restore_old_volume_kept", user_id=str(row.user_id), error=exc.explanation)
        log.info("backup_restored", user_id=str(row.user_id))

    async def _restore_done(self, restore_id: uuid.UUID, error: str | None) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(BackupRestore)
                .where(BackupRestore.id == restore_id)
                .values(status="FAILED" if error else "DONE", error=error, finished_at=func.now())
            )
