"""SQL for assistants' desired state. Every query that serves a user's request is scoped to that user."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import Assistant, AssistantEvent


async def notify_desired_change(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))


async def get(session: AsyncSession, user_id: uuid.UUID) -> Assistant | None:
    return await session.scalar(select(Assistant).where(Assistant.user_id == user_id))


async def lock(session: AsyncSession, user_id: uuid.UUID) -> Assistant | None:
    """The user's row, locked until the transaction ends: one desired-state change at a time."""
    stmt = select(Assistant).where(Assistant.user_id == user_id).with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def insert_if_absent(session: AsyncSession, user_id: uuid.UUID, *, model: str) -> Assistant | None:
    """The new row, or None when the user already has one (perhaps inserted by a concurrent request,
    which this waits for: UNIQUE(user_id))."""
    stmt = (
        insert(Assistant)
        .values(user_id=user_id, wanted=True, model=model, image=None, status="PROVISIONING", phase="placing")
        .on_conflict_do_nothing(index_elements=[Assistant.user_id])
        .returning(Assistant)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def _update(session: AsyncSession, user_id: uuid.UUID, **values: object) -> Assistant:
    stmt = update(Assistant).where(Assistant.user_id == user_id).values(**values).returning(Assistant)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


_PROVISION_AFRESH = {
    "status": "PROVISIONING",
    "phase": "placing",
    "attempts": 0,
    "last_error": None,
    "phase_reason": None,
    "next_retry_at": None,
}


async def want_again(session: AsyncSession, user_id: uuid.UUID, *, recreate: bool) -> Assistant:
    values: dict[str, object] = {"wanted": True, "deleted_at": None, **_PROVISION_AFRESH}
    if recreate:
        values["recreate_requested_at"] = func.now()
    return await _update(session, user_id, **values)


async def request_recreate(session: AsyncSession, user_id: uuid.UUID) -> Assistant:
    return await _update(session, user_id, recreate_requested_at=func.now(), **_PROVISION_AFRESH)


async def mark_unwanted(session: AsyncSession, user_id: uuid.UUID) -> Assistant:
    return await _update(session, user_id, wanted=False, deleted_at=func.now(), status="NONE", phase="deleting")


async def set_model(session: AsyncSession, user_id: uuid.UUID, model: str) -> Assistant:
    return await _update(session, user_id, model=model)


async def record_event(session: AsyncSession, user_id: uuid.UUID, kind: str, detail: str | None = None) -> None:
    session.add(AssistantEvent(user_id=user_id, kind=kind, detail=detail))
    await session.flush()


async def recent_events(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[AssistantEvent]:
    """Newest first."""
    rows = await session.scalars(
        select(AssistantEvent)
        .where(AssistantEvent.user_id == user_id)
        .order_by(AssistantEvent.created_at.desc(), AssistantEvent.id.desc())
        .limit(limit)
    )
    return list(rows.all())
