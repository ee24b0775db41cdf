"""The SQL of connected services: OAuth states, the users' integrations, and the tool-call audit. Every
query a user's request runs names that user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import IntegrationCall, OAuthState, UserIntegration


async def add_state(
    session: AsyncSession, *, state_hash: str, user_id: uuid.UUID, service: str, verifier: str, expires_at: datetime
) -> None:
    session.add(
        OAuthState(
            state_hash=state_hash,
            user_id=user_id,
            service=service,
            code_verifier_encrypted=verifier,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def state_for_update(session: AsyncSession, state_hash: str) -> OAuthState | None:
    """Locked, so two callbacks with one state cannot both redeem it."""
    return await session.scalar(select(OAuthState).where(OAuthState.state_hash == state_hash).with_for_update())


async def mark_state_used(session: AsyncSession, state_hash: str, at: datetime) -> None:
    await session.execute(update(OAuthState).where(OAuthState.state_hash == state_hash).values(used_at=at))


async def delete_old_states(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < before))
    return result.rowcount or 0


async def wake_reconciler(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Which services are connected is part of the assistant's config (its MCP server): rewritten at commit."""
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))


async def save_connection(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    service: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    scopes: list[str],
    email: str | None,
) -> None:
    """Connected (again): a reconnect without a new refresh token keeps the one stored."""
    values = {
        "access_token_encrypted": access_token,
        "token_expires_at": expires_at,
        "scopes": scopes,
        "email": email,
        "status": "connected",
        "updated_at": func.now(),
    }
    if refresh_token is not None:
        values["refresh_token_encrypted"] = refresh_token
    stmt = insert(UserIntegration).values(user_id=user_id, service=service, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["user_id", "service"], set_=values))
    await wake_reconciler(session, user_id)


async def integrations_of(session: AsyncSession, user_id: uuid.UUID) -> list[UserIntegration]:
    return list((await session.scalars(select(UserIntegration).where(UserIntegration.user_id == user_id))).all())


async def connected_services(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The rows' service names of what the assistant may use now."""
    rows = await session.scalars(
        select(UserIntegration.service).where(UserIntegration.user_id == user_id, UserIntegration.status == "connected")
    )
    return list(rows.all())


async def integration_for_update(session: AsyncSession, user_id: uuid.UUID, service: str) -> UserIntegration | None:
    return await session.scalar(
        select(UserIntegration)
        .where(UserIntegration.user_id == user_id, UserIntegration.service == service)
        .with_for_update()
    )


async def update_tokens(session: AsyncSession, integration_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(UserIntegration).where(UserIntegration.id == integration_id).values(**values))


async def forget(session: AsyncSession, user_id: uuid.UUID, service: str) -> bool:
    result = await session.execute(
        delete(UserIntegration).where(UserIntegration.user_id == user_id, UserIntegration.service == service)
    )
    if result.rowcount:
        await wake_reconciler(session, user_id)
    return bool(result.rowcount)


async def calls_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(IntegrationCall)
            .where(IntegrationCall.user_id == user_id, IntegrationCall.created_at >= since)
        )
        or 0
    )


async def record_call(
    session: AsyncSession, *, user_id: uuid.UUID, service: str, tool: str, outcome: str, duration_ms: int
) -> None:
    session.add(IntegrationCall(user_id=user_id, service=service, tool=tool, outcome=outcome, duration_ms=duration_ms))
    await session.flush()


async def calls_by_day(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> list[tuple[str, str, int]]:
    """(day, service, calls) for the usage view: successful calls only, per UTC day."""
    day = func.to_char(func.timezone("UTC", IntegrationCall.created_at), "YYYY-MM-DD")
    rows = await session.execute(
        select(day, IntegrationCall.service, func.count())
        .where(
            IntegrationCall.user_id == user_id,
            IntegrationCall.created_at >= since,
            IntegrationCall.outcome == "ok",
        )
        .group_by(day, IntegrationCall.service)
        .order_by(day)
    )
    return [(d, s, int(n)) for d, s, n in rows.all()]


# --- a tool call's own statements: plain SQL on the driver's connection in autocommit, each one round trip
# (a session's BEGIN/COMMIT and ORM work were most of what the MCP server added to a call).


@dataclass(frozen=True)
class CallContext:
    """What a tool call needs before it goes to Google: the user's calls in the last minute and their
    integration of the tool's service as it is now (None fields: not connected)."""

    recent_calls: int
    status: str | None
    access_token_encrypted: str | None
    token_expires_at: datetime | None


async def call_context(conn: asyncpg.Connection, user_id: uuid.UUID, service: str, since: datetime) -> CallContext:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM integration_calls WHERE user_id = $1 AND created_at >= $2) AS recent,"
        " i.status, i.access_token_encrypted, i.token_expires_at"
        " FROM (SELECT 1) AS one LEFT JOIN user_integrations i ON i.user_id = $1 AND i.service = $3",
        user_id,
        since,
        service,
    )
    return CallContext(int(row["recent"]), row["status"], row["access_token_encrypted"], row["token_expires_at"])


async def insert_call(
    conn: asyncpg.Connection, *, user_id: uuid.UUID, service: str, tool: str, outcome: str, duration_ms: int
) -> None:
    """`record_call` as one autocommitted statement."""
    await conn.execute(
        "INSERT INTO integration_calls (user_id, service, tool, outcome, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        user_id,
        service,
        tool,
        outcome,
        duration_ms,
    )


def minute_ago(now: datetime) -> datetime:
    return now - timedelta(minutes=1)
