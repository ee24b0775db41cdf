"""The SQL of rollouts: who moves in which wave, moving them, reading how they are doing, moving them back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import Assistant, Rollout, RolloutMember


@dataclass(frozen=True)
class MemberState:
    assistant_id: uuid.UUID
    previous_image: str | None
    previous_container_id: str | None
    outcome: str
    status: str
    phase: str
    container_id: str | None
    last_error: str | None


async def running(session: AsyncSession) -> Rollout | None:
    return await session.scalar(select(Rollout).where(Rollout.status == "RUNNING").limit(1))


async def latest(session: AsyncSession) -> Rollout | None:
    return await session.scalar(select(Rollout).order_by(Rollout.started_at.desc()).limit(1))


async def to_move(session: AsyncSession, image: str, default_image: str) -> list[Assistant]:
    """Wanted assistants not on `image` yet (NULL is the default image), in a stable order."""
    effective = func.coalesce(Assistant.image, default_image)
    return list(
        (
            await session.scalars(
                select(Assistant)
                .where(Assistant.wanted.is_(True), Assistant.deleted_at.is_(None), effective != image)
                .order_by(Assistant.created_at, Assistant.id)
            )
        ).all()
    )


async def members(session: AsyncSession, rollout_id: uuid.UUID, wave: int | None = None) -> list[MemberState]:
    query = (
        select(
            RolloutMember.assistant_id,
            RolloutMember.previous_image,
            RolloutMember.previous_container_id,
            RolloutMember.outcome,
            Assistant.status,
            Assistant.phase,
            Assistant.container_id,
            Assistant.last_error,
        )
        .join(Assistant, Assistant.id == RolloutMember.assistant_id)
        .where(RolloutMember.rollout_id == rollout_id)
    )
    if wave is not None:
        query = query.where(RolloutMember.wave == wave)
    return [MemberState(*row) for row in (await session.execute(query)).all()]


async def outcomes(session: AsyncSession, rollout_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(RolloutMember.outcome, func.count())
        .where(RolloutMember.rollout_id == rollout_id)
        .group_by(RolloutMember.outcome)
    )
    return {outcome: count for outcome, count in rows.all()}


async def set_outcome(
    session: AsyncSession, rollout_id: uuid.UUID, assistant_id: uuid.UUID, outcome: str, reason: str | None = None
) -> None:
    await session.execute(
        update(RolloutMember)
        .where(RolloutMember.rollout_id == rollout_id, RolloutMember.assistant_id == assistant_id)
        .values(outcome=outcome, reason=reason)
    )


async def move(session: AsyncSession, assistant_ids: list[uuid.UUID], image: str | None, *, afresh: bool) -> None:
    """Puts assistants on `image` (None: the default): their container spec changes, so the reconciler recreates
    them (messages arriving meanwhile wait in their queue). `afresh` also clears a failed provisioning, so one
    that failed on the new image is tried again on the old one at once."""
    values: dict[str, object] = {"image": image}
    if afresh:
        values.update(
            status="PROVISIONING",
            phase="placing",
            attempts=0,
            last_error=None,
            phase_reason=None,
            next_retry_at=None,
            recreate_requested_at=func.now(),
        )
    await session.execute(update(Assistant).where(Assistant.id.in_(assistant_ids)).values(**values))
    for assistant_id in assistant_ids:
        await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(assistant_id))))
