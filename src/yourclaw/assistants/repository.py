"""SQL for assistants. Every query that serves a user's request is scoped to that user (or, for the
assistant's own calls, to the user and assistant its token names)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import Assistant

# The reconciler LISTENs on these. Notifications are delivered at commit, so it never wakes for a
# change it cannot see yet.
ASSISTANTS_CHANNEL = "yourclaw_assistants"  # payload: user id
POLLS_CHANNEL = "yourclaw_polls"  # payload: assistant id


async def notify_desired_change(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(ASSISTANTS_CHANNEL, str(user_id))))


async def notify_poll_change(session: AsyncSession, assistant_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(POLLS_CHANNEL, str(assistant_id))))


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


async def lock_for_poll(
    session: AsyncSession, assistant_id: uuid.UUID, user_id: uuid.UUID, *, fresh_within: timedelta
) -> Row | None:
    """What a poll compares against, with the row locked; `fresh` says the last recorded poll is
    younger than `fresh_within` by the database's clock (the one that wrote it)."""
    fresh = func.coalesce(Assistant.last_poll_at > func.now() - fresh_within, False)
    stmt = (
        select(
            Assistant.wanted,
            Assistant.instance_id,
            Assistant.superseded_instance_ids,
            Assistant.last_poll_generation,
            fresh.label("fresh"),
        )
        .where(Assistant.id == assistant_id, Assistant.user_id == user_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).first()


async def record_poll(
    session: AsyncSession,
    assistant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    instance_id: str,
    generation: int,
    superseded: list[str],
) -> None:
    await session.execute(
        update(Assistant)
        .where(Assistant.id == assistant_id, Assistant.user_id == user_id)
        .values(
            last_poll_at=func.now(),
            last_poll_generation=generation,
            instance_id=instance_id,
            superseded_instance_ids=superseded,
        )
    )
