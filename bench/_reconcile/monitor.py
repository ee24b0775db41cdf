"""The watch on the assistants rows: one small query every MONITOR_INTERVAL, noting when a condition first
holds for each user, when each first polled and each change of instance id."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from yourclaw.db.models import Assistant

MONITOR_INTERVAL = 0.05


@dataclass
class Row:
    status: str
    phase: str
    instance_id: str | None
    last_poll_at: datetime | None
    container_id: str | None
    host_id: uuid.UUID | None


@dataclass
class Watch:
    users: set[uuid.UUID]
    predicate: Callable[[uuid.UUID, Row], bool]
    seen: dict[uuid.UUID, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Monitor:
    """Reads every assistants row every MONITOR_INTERVAL (one small query) and notes when a condition first holds."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.rows: dict[uuid.UUID, Row] = {}
        self.first_poll_at: dict[uuid.UUID, float] = {}  # the first poll's time, by the database's clock
        # user -> [(seen at, new instance id, its poll's time by the database's clock)]
        self.instance_changes: dict[uuid.UUID, list[tuple[float, str, float | None]]] = defaultdict(list)
        self.watches: list[Watch] = []
        self.queries = 0

    async def run(self, stop: asyncio.Event) -> None:
        stmt = select(
            Assistant.user_id,
            Assistant.status,
            Assistant.phase,
            Assistant.instance_id,
            Assistant.last_poll_at,
            Assistant.container_id,
            Assistant.host_server_id,
        )
        while not stop.is_set():
            async with self.engine.connect() as conn:
                result = (await conn.execute(stmt)).all()
            seen_at = time.time()
            self.queries += 1
            for user_id, status, phase, instance_id, last_poll_at, container_id, host_id in result:
                previous = self.rows.get(user_id)
                if instance_id is not None and (previous is None or previous.instance_id != instance_id):
                    poll_at = last_poll_at.timestamp() if last_poll_at else None
                    self.instance_changes[user_id].append((seen_at, instance_id, poll_at))
                self.rows[user_id] = Row(status, phase, instance_id, last_poll_at, container_id, host_id)
                if last_poll_at is not None and user_id not in self.first_poll_at:
                    self.first_poll_at[user_id] = last_poll_at.timestamp()
            for watch in self.watches:
                for user_id in watch.users - watch.seen.keys():
                    row = self.rows.get(user_id)
                    if row is not None and watch.predicate(user_id, row):
                        watch.seen[user_id] = seen_at
                if len(watch.seen) == len(watch.users):
                    watch.done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), MONITOR_INTERVAL)

    async def wait(self, users: Iterable[uuid.UUID], predicate, timeout: float) -> dict[uuid.UUID, float]:
        watch = Watch(set(users), predicate)
        self.watches.append(watch)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.done.wait(), timeout)
        finally:
            self.watches.remove(watch)
        return dict(watch.seen)


def is_ready(_user: uuid.UUID, row: Row) -> bool:
    return row.status == "READY" and row.phase == "ready"
