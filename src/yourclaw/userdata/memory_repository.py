"""The SQL of the user's memory requests (`memory_requests`), every query scoped to the user."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import MemoryRequest, User


async def latest_done(session: AsyncSession, user_id: uuid.UUID) -> MemoryRequest | None:
    return await session.scalar(
        select(MemoryRequest)
        .where(MemoryRequest.user_id == user_id, MemoryRequest.status == "DONE")
        .order_by(MemoryRequest.finished_at.desc())
        .limit(1)
    )


async def latest_failed_after(session: AsyncSession, user_id: uuid.UUID, after) -> MemoryRequest | None:
    query = select(MemoryRequest).where(MemoryRequest.user_id == user_id, MemoryRequest.status == "FAILED")
    if after is not None:
        query = query.where(MemoryRequest.finished_at > after)
    return await session.scalar(query.order_by(MemoryRequest.finished_at.desc()).limit(1))


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Until the transaction ends: two asks at once count each other's requests against the cap."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def pending(session: AsyncSession, user_id: uuid.UUID) -> list[MemoryRequest]:
    return list(
        (
            await session.scalars(
                select(MemoryRequest)
                .where(MemoryRequest.user_id == user_id, MemoryRequest.status == "PENDING")
                .order_by(MemoryRequest.requested_at)
            )
        ).all()
    )


async def request(session: AsyncSession, user_id: uuid.UUID, action: str, path: str | None) -> MemoryRequest:
    row = MemoryRequest(user_id=user_id, action=action, path=path)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    # The reconciler reads and deletes the files on the volume: wake it.
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))
    return row
