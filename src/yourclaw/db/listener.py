"""One LISTEN connection per API process, shared by whatever in it acts on PostgreSQL notifications: the
user-inbound channel wakes that user's waiting polls (`protocol.waiter`), so a hand-off takes
milliseconds while the polls hold no database connection; the LLM callers channel keeps the proxy's
caller cache right (`llm.callers`). A lost connection is re-opened with backoff, and those who depend on it
are told when it goes and comes back (`on_connection`): meanwhile they read the database themselves, so a
missed notification costs seconds, never a message or a stale decision."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from yourclaw.db.engine import driver_dsn

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10.0
# A connection can die silently (a dropped network path); a cheap query now and then notices.
HEALTH_CHECK_INTERVAL = 15.0
MAX_BACKOFF = 10.0


class Listener:
    def __init__(self, database_url: str) -> None:
        self._dsn = driver_dsn(database_url)
        # Several parts of a process may follow one channel (the LLM proxy's callers and the MCP server's).
        self._channels: dict[str, list[Callable[[str], None]]] = {}
        self._watchers: list[Callable[[bool], None]] = []
        self._connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.server_pid: int | None = None  # the backend listening, for operators and tests

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, channel: str, handler: Callable[[str], None]) -> None:
        """`handler(payload)` for every notification on `channel`; subscribe before `start`."""
        self._channels.setdefault(channel, []).append(handler)

    def on_connection(self, watcher: Callable[[bool], None]) -> None:
        """`watcher(True)` once every channel is listened to, after each (re)connection; `watcher(False)`
        when the connection is lost. Notifications sent while it was down are gone."""
        self._watchers.append(watcher)

    async def start(self, *, wait_connected: float = 5.0) -> None:
        """Start listening; wait for the first connection attempt so that a message queued right after
        start-up wakes its poll, but never fail start-up over it (the loop keeps trying)."""
        self._task = asyncio.create_task(self._run(), name="inbound-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), wait_connected)
        if not self.connected:
            log.warning("listener_not_connected_yet")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5)
            self._task = None

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for handler in self._channels.get(channel, ()):
            try:
                handler(payload)
            except Exception:  # one bad payload must not stop the others
                log.exception("notification_handler_failed", channel=channel)

    def _tell(self, up: bool) -> None:
        for watcher in self._watchers:
            try:
                watcher(up)
            except Exception:
                log.exception("connection_watcher_failed")

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self._channels:
                    await conn.add_listener(channel, self._dispatch)
                self.server_pid = conn.get_server_pid()
                self._connected.set()
                self._tell(True)
                self._attempted.set()
                backoff = 0.5
                await self._hold(conn, lost)
            except Exception as exc:  # the listener must outlive any failure; it reconnects
                log.warning("listener_disconnected", error=type(exc).__name__)
            finally:
                if self._connected.is_set():
                    self._connected.clear()
                    self._tell(False)
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
