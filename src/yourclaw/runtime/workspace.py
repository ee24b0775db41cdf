"""How full each assistant's workspace (its volume) is: read from its host now and then (one volume inspect
each, answered by the host's volume plugin), kept on the assistant row for the dashboard, and the user told
once on WhatsApp when it nears its size and again when it is full."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import Assistant
from yourclaw.kit.settings import Settings
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.runtime import repository as repo
from yourclaw.runtime.container_spec import volume_name
from yourclaw.runtime.host_client import HostUnavailable
from yourclaw.runtime.host_handle import HostHandle

log = structlog.get_logger(__name__)

OK, NEARLY_FULL, FULL = "ok", "nearly_full", "full"
_RANK = {OK: 0, NEARLY_FULL: 1, FULL: 2}
# Full: what is left no longer holds a day of conversation and memory files.
FULL_FREE_PERCENT = 2


def level(used: int | None, size: int | None, warn_percent: int) -> str | None:
    if used is None or not size:
        return None
    if (size - used) * 100 <= size * FULL_FREE_PERCENT:
        return FULL
    if used * 100 >= size * warn_percent:
        return NEARLY_FULL
    return OK


def human_bytes(n: int) -> str:
    """ "120 MB", "1.9 GB": what a user reads (powers of 1024, as `df -h` shows them)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}".replace(".0 ", " ") if value < 10 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def notice(level_: str, used: int, size: int) -> str:
    if level_ == FULL:
        return (
            f"Your assistant's workspace is full ({human_bytes(size)}). It cannot save new files, notes or "
            "memories until some space is freed: ask it to delete files it no longer needs."
        )
    return (
        f"Your assistant's workspace is nearly full: {human_bytes(used)} of {human_bytes(size)} used. When it "
        "is full your assistant cannot save new files, notes or memories: ask it to delete files it no longer needs."
    )


@dataclass(frozen=True)
class Placed:
    assistant_id: uuid.UUID
    user_id: uuid.UUID
    host_id: uuid.UUID
    used: int | None
    size: int | None
    volume: str  # the user's own, or the one that came with a warm-pool container


def placed(rows: Iterable[Assistant], reachable: set[uuid.UUID]) -> list[Placed]:
    """The assistants with a container on a host that answered: the ones whose volume is there to read."""
    return [
        Placed(
            row.id,
            row.user_id,
            row.host_server_id,
            row.workspace_bytes,
            row.workspace_limit_bytes,
            row.volume or volume_name(row.user_id),
        )
        for row in rows
        if row.wanted and row.container_id and row.host_server_id in reachable
    ]


async def measure(
    sessions: async_sessionmaker[AsyncSession],
    handles: dict[uuid.UUID, HostHandle],
    assistants: list[Placed],
    *,
    warn_percent: int,
    now: datetime,
) -> int:
    """Reads and records each one's use; returns how many were read. One failure stays with its assistant."""
    measured = 0
    for item in assistants:
        handle = handles.get(item.host_id)
        if handle is None:
            continue
        try:
            usage = await handle.call(handle.client.volume_usage, item.volume)
        except HostUnavailable:
            continue
        except Exception as exc:  # noqa: BLE001  (the next round tries again)
            log.warning("workspace_not_measured", user_id=str(item.user_id), error=type(exc).__name__)
            continue
        if usage is None:
            continue
        before = level(item.used, item.size, warn_percent) or OK
        after = level(usage.used_bytes, usage.size_bytes, warn_percent) or OK
        async with sessions() as session, session.begin():
            await repo.update_assistant(
                session,
                item.assistant_id,
                workspace_bytes=usage.used_bytes,
                workspace_limit_bytes=usage.size_bytes,
                workspace_measured_at=now,
            )
            if _RANK[after] > _RANK[before]:
                # Once per level a day however often it is measured across the line.
                await enqueue_whatsapp(
                    session,
                    item.user_id,
                    notice(after, usage.used_bytes, usage.size_bytes),
                    kind="system",
                    dedupe_key=f"workspace-{after}:{item.assistant_id}:{now.date().isoformat()}",
                )
        if _RANK[after] > _RANK[before]:
            log.info("workspace_filling", user_id=str(item.user_id), level=after)
        measured += 1
    return measured


class Rounds:
    """The reconciler's measuring: a round every WORKSPACE_MEASURE_SECONDS, in the background (one inspect per
    volume must never hold up a pass), and never two at once."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self._last = 0.0
        self._task: asyncio.Task | None = None

    def maybe_start(self, handles: dict[uuid.UUID, HostHandle], assistants: list[Placed], now: datetime) -> None:
        if time.monotonic() - self._last < self.settings.workspace_measure_seconds:
            return
        if self._task is not None and not self._task.done():
            return
        self._last = time.monotonic()
        self._task = asyncio.create_task(
            measure(
                self.sessions, dict(handles), assistants, warn_percent=self.settings.workspace_warn_percent, now=now
            )
        )
        self._task.add_done_callback(_log_failure)

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("workspace_round_failed", error=type(task.exception()).__name__)
