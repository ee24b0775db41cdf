"""The user-data work the reconciler starts after each pass, on the hosts that answered it: deleted accounts
to purge and exports to read (`user_data`), memory files to read or forget (`memory`), the volumes' backups
(`backups`). It runs in a task of its own, one at a time: reading a workspace or streaming a volume must not
hold up the pass.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.kit.settings import Settings
from yourclaw.runtime import backups, memory, user_data
from yourclaw.runtime.host_handle import HostHandle

log = structlog.get_logger(__name__)


class UserDataTasks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], wake: Callable[[], None]) -> None:
        self.sessions = sessions
        self.wake = wake  # another pass soon: there may be more to do
        self._task: asyncio.Task | None = None

    def maybe_start(self, settings: Settings, answered: Mapping[uuid.UUID, HostHandle], all_answered: bool) -> None:
        """Starts a round on the hosts that answered this pass, unless the last one is still at work. It reads
        the settings it is given: the reconciler's may be replaced between passes (the backup bucket turned on)."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.create_task(self._run(settings, answered, all_answered))

    async def _run(self, settings: Settings, answered: Mapping[uuid.UUID, HostHandle], all_answered: bool) -> None:
        sessions = self.sessions
        try:
            await user_data.purge_deleted_accounts(settings, sessions, answered, all_answered)
            if await user_data.fulfil_exports(settings, sessions, answered):
                self.wake()  # there may be more
            if await memory.fulfil_memory_requests(settings, sessions, answered):
                self.wake()
            await user_data.forget_old_exports(settings, sessions)
            if settings.backup_bucket and await backups.take_due(settings, sessions, answered):
                self.wake()  # there may be more due
        except Exception as exc:  # noqa: BLE001  (tried again at the next pass)
            log.warning("user_data_jobs_failed", error=type(exc).__name__)

    async def settle(self, timeout: float | None = None) -> None:
        """Wait for the round in flight (tests, benchmarks, shutdown)."""
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout)
