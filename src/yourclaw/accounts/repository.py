"""SQL for users and phones. Every query that serves a user's request is scoped to that user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import User, UserPhone


async def upsert_user(session: AsyncSession, user_id: uuid.UUID, email: str | None) -> User:
    user = await session.get(User, user_id)
    if user is None:
        await session.execute(
            insert(User).values(id=user_id, email=email).on_conflict_do_nothing(index_elements=[User.id])
        )
        user = await session.get(User, user_id)
        assert user is not None
    elif email and user.email != email:
        user.email = email
    return user


async def sessions_revoked_at(session: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    return await session.scalar(select(User.sessions_revoked_at).where(User.id == user_id))


async def revoke_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(update(User).where(User.id == user_id).values(sessions_revoked_at=func.clock_timestamp()))


async def get_phone(session: AsyncSession, user_id: uuid.UUID) -> UserPhone | None:
    return await session.scalar(select(UserPhone).where(UserPhone.user_id == user_id))


async def verified_owner_of(session: AsyncSession, phone_e164: str) -> uuid.UUID | None:
    return await session.scalar(
        select(UserPhone.user_id).where(UserPhone.phone_e164 == phone_e164, UserPhone.verified_at.is_not(None))
    )


async def set_pending_phone(
    session: AsyncSession, user_id: uuid.UUID, phone_e164: str, code: str, expires_at: datetime
) -> UserPhone:
    """One row per user: a new number replaces the old one and must be proven again."""
    stmt = (
        insert(UserPhone)
        .values(user_id=user_id, phone_e164=phone_e164, verification_code=code, code_expires_at=expires_at)
        .on_conflict_do_update(
            index_elements=[UserPhone.user_id],
            set_={
                "phone_e164": phone_e164,
                "verification_code": code,
                "code_expires_at": expires_at,
                "verified_at": None,
                "last_inbound_at": None,
                "opted_out_at": None,
                "updated_at": datetime.now().astimezone(),
            },
        )
        .returning(UserPhone)
    )
    phone = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()
    return phone


async def set_timezone(session: AsyncSession, user_id: uuid.UUID, timezone: str | None) -> None:
    """A change is part of the assistant's desired state (its config keeps to the user's clock): the
    reconciler is woken at commit rather than at its next pass."""
    changed = await session.scalar(
        update(User)
        .where(User.id == user_id, User.timezone.is_distinct_from(timezone))
        .values(timezone=timezone)
        .returning(User.id)
    )
    if changed is not None:
        await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))
