"""Wakes the router once a webhook's message is committed, from outside the webhook's transaction.

A NOTIFY inside each webhook transaction would make every commit queue on Postgres' notification lock,
which caps the durable ack rate well below what plain commits reach. Here a burst of webhooks costs one
NOTIFY at a time per process, sent after their commits. A wake-up lost to a crash costs the router's
poll interval (WORKER_POLL_INTERVAL), never a message: the message itself is already durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from yourclaw.db import channels

log = structlog.get_logger(__name__)


Send = Callable[[str], Awaitable[None]]


def notify_with(engine: AsyncEngine) -> Send:
    # Its own implicit transaction: one round trip, where BEGIN, NOTIFY, COMMIT took three.
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def send(payload: str) -> None:
        async with autocommit.connect() as conn:
            await conn.execute(select(func.pg_notify(channels.INBOUND, payload)))

    return send


class RouterWakeup:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._payload: str | None = None
        self._task: asyncio.Task | None = None

    def wake(self, payload: str) -> None:
        """Never blocks: at most one NOTIFY in flight, and one more after it for whatever came meanwhile."""
        self._payload = payload
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="router-wakeup")

    async def _flush(self) -> None:
        while self._payload is not None:
            payload, self._payload = self._payload, None
            try:
                await self._send(payload)
            except Exception as exc:  # noqa: BLE001  (the router's own poll picks the message up)
                log.warning("router_wakeup_failed", error=type(exc).__name__)
                return

    async def close(self) -> None:
        """Let the last wake-up go out (a shutdown right after a webhook should not delay its routing)."""
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
