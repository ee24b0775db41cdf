"""One LISTEN connection per API process on the user-inbound channel: a notification wakes that user's
waiting polls in this process, so a hand-off takes milliseconds while the polls themselves hold no
database connection. A lost connection is re-opened with backoff; meanwhile polls re-check on their own
(see `connected`), so a missed notification costs seconds, never a message."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import structlog

from yourclaw.runtime.inbound_queue import USER_INBOUND_CHANNEL
from yourclaw.runtime.inbound_waiter import InboundWaiter
from yourclaw.settings import normalize_database_url

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10.0
# A connection can die silently (a dropped network path); a cheap query now and then notices.
HEALTH_CHECK_INTERVAL = 15.0
MAX_BACKOFF = 10.0


class InboundListener:
    def __init__(self, database_url: str, waiter: InboundWaiter) -> None:
        self._dsn = normalize_database_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
        self._waiter = waiter
        self._connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.server_pid: int | None = None  # the backend listening, for operators and tests

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, *, wait_connected: float = 5.0) -> None:
        """Start listening; wait for the first connection attempt so that a message queued right after
        start-up wakes its poll, but never fail start-up over it (the loop keeps trying)."""
        self._task = asyncio.create_task(self._run(), name="inbound-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), wait_connected)
        if not self.connected:
            log.warning("inbound_listener_not_connected_yet")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5)
            self._task = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            user_id = uuid.UUID(payload)
        except ValueError:
            log.warning("inbound_notification_ignored", reason="payload is not a user id")
            return
        self._waiter.wake(user_id)

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(USER_INBOUND_CHANNEL, self._on_notify)
                self.server_pid = conn.get_server_pid()
                self._connected.set()
                self._attempted.set()
                backoff = 0.5
                await self._hold(conn, lost)
            except Exception as exc:  # the listener must outlive any failure; it reconnects
                log.warning("inbound_listener_disconnected", error=type(exc).__name__)
            finally:
                self._connected.clear()
                self._attempted.set()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            if not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _hold(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until stop or a dead connection (raises)."""
        while not self._stop.is_set():
            stop = asyncio.create_task(self._stop.wait())
            gone = asyncio.create_task(lost.wait())
            try:
                await asyncio.wait({stop, gone}, timeout=HEALTH_CHECK_INTERVAL, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                gone.cancel()
            if lost.is_set() or conn.is_closed():
                raise ConnectionResetError("the LISTEN connection closed")
            if not self._stop.is_set():
                await conn.fetchval("SELECT 1", timeout=5)
