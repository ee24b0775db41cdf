"""Group commit for the WhatsApp webhook: webhooks that arrive while a write is in flight are stored
together in the next one, one statement and one commit for all of them.

Each webhook is still answered only after the commit that made its message durable, so nothing is
acknowledged that a crash could lose. What changes is the cost under load: one round trip and one WAL
flush per batch instead of per message, where a commit per webhook made PostgreSQL's flushes and the
connection pool the ceiling. With little traffic a batch is one message and the latency is that of a
single write. A batch that fails is written again message by message, so one bad message fails alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from yourclaw.messaging.inbound import repository as repo

log = structlog.get_logger(__name__)

MAX_BATCH = 64
# Two writes in flight: one executes while the other waits for its flush.
MAX_IN_FLIGHT = 2

_Waiting = tuple[repo.Received, asyncio.Future]


class InboundWriter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: deque[_Waiting] = deque()
        self._tasks: set[asyncio.Task] = set()
        # Counted by the drains themselves: a finished task stays in `_tasks` until its done callback
        # runs, and a message queued in between must still find a drain to start.
        self._draining = 0

    async def receive(self, message: repo.Received) -> uuid.UUID | None:
        """Stores `message` durably; its id, or None when Twilio already delivered this MessageSid."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((message, future))
        if self._draining < self._max_in_flight:
            self._draining += 1
            task = asyncio.create_task(self._drain(), name="inbound-writer")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A request cancelled here (its client gone) leaves the write to finish; a retry finds it stored.
        return await future

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            await self._drain_waiting()
        finally:
            self._draining -= 1

    async def _drain_waiting(self) -> None:
        # No await between the last look at `_waiting` and the count going down (see `_draining`).
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))]
            try:
                ids = await self._store([message for message, _ in batch])
            except Exception as exc:  # noqa: BLE001  (each message is tried alone below)
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                log.warning("inbound_batch_failed", size=len(batch), error=type(exc).__name__)
                for message, future in batch:
                    try:
                        _settle(future, (await self._store([message]))[0])
                    except Exception as one_exc:  # noqa: BLE001  (handed to that message's request)
                        _settle(future, one_exc)
                continue
            for (_, future), new_id in zip(batch, ids, strict=True):
                _settle(future, new_id)

    async def _store(self, messages: list[repo.Received]) -> list[uuid.UUID | None]:
        async with self._engine.connect() as conn:
            return await repo.receive_many(conn, messages)


def _settle(future: asyncio.Future, outcome: object) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
