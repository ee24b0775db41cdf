"""SQL for users and phones. Every query that serves a user's request is scoped to that user."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import AccountDeletion, PhoneAttempts, User, UserPhone


async def upsert_user(session: AsyncSession, user_id: uuid.UUID, email: str | None) -> User:
    user = await session.get(User, user_id)
    if user is None:
        # An account deleted before and signed up again: what was issued before the deletion stays void.
        deleted_at = select(AccountDeletion.deleted_at).where(AccountDeletion.user_id == user_id).scalar_subquery()
        await session.execute(
            insert(User)
            .values(id=user_id, email=email, sessions_revoked_at=deleted_at)
            .on_conflict_do_nothing(index_elements=[User.id])
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


async def count_phone_attempt(session: AsyncSession, user_id: uuid.UUID, window: timedelta) -> tuple[int, datetime]:
    """One more number submitted: the attempts in the current window (a new one when the last is over)
    and when that window started. One statement, so concurrent submissions all count."""
    current = PhoneAttempts.window_started_at > func.now() - window
    stmt = (
        insert(PhoneAttempts)
        .values(user_id=user_id, window_started_at=func.now(), attempts=1)
        .on_conflict_do_update(
            index_elements=[PhoneAttempts.user_id],
            set_={
                "attempts": case((current, PhoneAttempts.attempts + 1), else_=1),
                "window_started_at": case((current, PhoneAttempts.window_started_at), else_=func.now()),
            },
        )
        .returning(PhoneAttempts.attempts, PhoneAttempts.window_started_at)
    )
    row = (await session.execute(stmt)).one()
    return row.attempts, row.window_started_at


async def delete_unproven_phones(session: AsyncSession, *, code_expired_before: datetime, limit: int) -> int:
    """Up to `limit` numbers never verified whose code expired before `code_expired_before`: a number the
    user never proved to be theirs (it may be anyone's) and can no longer prove without entering it again."""
    stale = (
        select(UserPhone.id)
        .where(UserPhone.verified_at.is_(None), UserPhone.code_expires_at < code_expired_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(UserPhone).where(UserPhone.id.in_(stale.scalar_subquery())))
    return result.rowcount or 0


async def delete_ended_phone_attempts(session: AsyncSession, window: timedelta, *, limit: int) -> int:
    """Up to `limit` counts of number submissions whose window is over (the next submission starts anew)."""
    ended = (
        select(PhoneAttempts.user_id)
        .where(PhoneAttempts.window_started_at < func.now() - window)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(PhoneAttempts).where(PhoneAttempts.user_id.in_(ended.scalar_subquery())))
    return result.rowcount or 0
