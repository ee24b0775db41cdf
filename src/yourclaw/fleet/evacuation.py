"""`yourclaw hosts evacuate NAME`: every assistant off a host, volume and all, one at a time; with `--count`
only so many (a rebalance, the host stays open), with `--to` onto that host.

This writes the desire and watches; the reconciler does the moving (`runtime.moves`, `runtime.volume_apply`):
it stops the container, streams the volume to the new host through the Docker API, brings the assistant up
there (its messages wait in the queue meanwhile and are answered after, once), and removes the old container
and volume only once the assistant is READY on the new host. An assistant counts as moved then.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db import channels
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer


class EvacuationRefused(Exception):
    """The hosts named make no sense; the message says why."""


@dataclass(frozen=True)
class Request:
    source: str
    to: str | None = None
    count: int | None = None  # None: every assistant, and the host is drained


@dataclass(frozen=True)
class Progress:
    user_id: uuid.UUID
    host: str | None
    phase: str
    moved: bool


async def _host(session: AsyncSession, name: str) -> HostServer:
    host = await session.scalar(select(HostServer).where(HostServer.name == name))
    if host is None:
        raise EvacuationRefused(f"no host named {name}")
    return host


async def request(session: AsyncSession, ask: Request) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Marks the assistants to move (and drains the host for a full evacuation); returns the host's id and the
    assistants' ids, in the order they will move."""
    source = await _host(session, ask.source)
    target = await _host(session, ask.to) if ask.to else None
    if target is not None and (target.id == source.id or target.draining):
        raise EvacuationRefused(f"--to {ask.to}: another host, one that is not draining")
    if ask.count is not None and ask.count < 1:
        raise EvacuationRefused("--count: at least one assistant")
    if ask.count is None:
        source.draining = True  # nothing new lands here meanwhile
    query = (
        select(Assistant.id)
        .where(Assistant.host_server_id == source.id, Assistant.wanted.is_(True))
        .order_by(Assistant.created_at, Assistant.id)
    )
    ids = list((await session.scalars(query.limit(ask.count) if ask.count else query)).all())
    if ids:
        await session.execute(
            update(Assistant)
            .where(Assistant.id.in_(ids))
            .values(move_requested_at=func.now(), move_to_host_id=target.id if target else None)
        )
        await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(source.id))))
    return source.id, ids


async def progress(session: AsyncSession, source_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Progress]:
    rows = await session.execute(
        select(Assistant, HostServer.name)
        .outerjoin(HostServer, HostServer.id == Assistant.host_server_id)
        .where(Assistant.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    out = []
    for row, host in rows.all():
        moved = (
            row.host_server_id not in (None, source_id)
            and row.moved_from_host_id is None
            and row.move_requested_at is None
            and row.phase == "ready"
        )
        out.append(Progress(row.user_id, host, row.phase, moved or not row.wanted))
    return out


async def watch(
    sessions: async_sessionmaker[AsyncSession],
    source_id: uuid.UUID,
    ids: list[uuid.UUID],
    *,
    say: Callable[[str], None] = print,
    timeout: float = 3600.0,
    poll_seconds: float = 1.0,
) -> bool:
    """Tells each assistant as it lands; True once all have, False at the timeout (the moves go on)."""
    started = time.monotonic()
    told: set[uuid.UUID] = set()
    while True:
        async with sessions() as session:
            states = await progress(session, source_id, ids)
        for state in states:
            if state.moved and state.user_id not in told:
                told.add(state.user_id)
                elapsed = time.monotonic() - started
                say(f"{len(told)}/{len(ids)} moved: {state.user_id} on {state.host} ({elapsed:.1f} s)")
        if len(told) == len(states):
            return True
        if time.monotonic() - started > timeout:
            waiting = ", ".join(f"{s.user_id} ({s.phase})" for s in states if s.user_id not in told)
            say(f"not all moved within {timeout:g} s; still moving: {waiting}")
            return False
        await asyncio.sleep(poll_seconds)


async def start(sessions: async_sessionmaker[AsyncSession], ask: Request) -> tuple[uuid.UUID, list[uuid.UUID]]:
    async with transaction(sessions) as session:
        return await request(session, ask)
