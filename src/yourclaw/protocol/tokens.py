"""Assistant tokens: one random bearer per assistant for everything it calls (polls, outbound, media,
the LLM proxy). Stored as a SHA-256 for lookup and encrypted for rendering the config. Rotation keeps
the previous token valid until a grace period after the new generation is confirmed."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import AssistantToken
from yourclaw.kit.crypto import SecretBox

TOKEN_PREFIX = "yca_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenOwner:
    user_id: uuid.UUID
    assistant_id: uuid.UUID
    token_id: uuid.UUID
    current: bool


async def issue(session: AsyncSession, secrets_box: SecretBox, *, user_id: uuid.UUID, assistant_id: uuid.UUID) -> str:
    """Make a new current token. Older tokens stay valid (no expiry yet) until `confirm_rotation`."""
    token = new_token()
    await session.execute(
        update(AssistantToken)
        .where(AssistantToken.assistant_id == assistant_id, AssistantToken.current.is_(True))
        .values(current=False)
    )
    session.add(
        AssistantToken(
            user_id=user_id,
            assistant_id=assistant_id,
            token_hash=hash_token(token),
            token_encrypted=secrets_box.encrypt(token),
            current=True,
        )
    )
    await session.flush()
    return token


async def current_token(session: AsyncSession, secrets_box: SecretBox, assistant_id: uuid.UUID) -> str | None:
    encrypted = await session.scalar(
        select(AssistantToken.token_encrypted).where(
            AssistantToken.assistant_id == assistant_id,
            AssistantToken.current.is_(True),
            AssistantToken.revoked_at.is_(None),
        )
    )
    return secrets_box.decrypt(encrypted) if encrypted else None


async def current_tokens(session: AsyncSession, secrets_box: SecretBox) -> dict[uuid.UUID, str]:
    """Every assistant's current token, decrypted: what the reconciler renders into their configs."""
    rows = await session.execute(
        select(AssistantToken.assistant_id, AssistantToken.token_encrypted).where(
            AssistantToken.current.is_(True), AssistantToken.revoked_at.is_(None)
        )
    )
    return {assistant_id: secrets_box.decrypt(encrypted) for assistant_id, encrypted in rows}


async def verify_bearer(session: AsyncSession, token: str, *, now: datetime | None = None) -> TokenOwner | None:
    """The owner of a valid (not revoked, not expired) token, or None. Constant work per call: one
    indexed lookup by hash, so timing says nothing about how close a guess was."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = now or datetime.now(UTC)
    row = (
        await session.execute(
            select(
                AssistantToken.user_id, AssistantToken.assistant_id, AssistantToken.id, AssistantToken.current
            ).where(
                AssistantToken.token_hash == hash_token(token),
                AssistantToken.revoked_at.is_(None),
                or_(AssistantToken.expires_at.is_(None), AssistantToken.expires_at > now),
            )
        )
    ).first()
    return TokenOwner(*row) if row else None


async def owner_on_driver(conn: asyncpg.Connection, token: str) -> tuple[uuid.UUID, datetime | None] | None:
    """`verify_bearer` as one plain statement on the driver's own connection (autocommit), for paths where
    SQLAlchemy's session and transaction cost more than the lookup itself (the MCP server's every call):
    the owner and the token's expiry (set while it is being rotated out)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await conn.fetchrow(
        "SELECT user_id, expires_at FROM assistant_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        hash_token(token),
    )
    return (row["user_id"], row["expires_at"]) if row else None


async def confirm_rotation(
    session: AsyncSession, assistant_id: uuid.UUID, *, grace: timedelta, now: datetime | None = None
) -> int:
    """The assistant now uses its current token: earlier ones expire after `grace`. Returns how many."""
    now = now or datetime.now(UTC)
    result = await session.execute(
        update(AssistantToken)
        .where(
            AssistantToken.assistant_id == assistant_id,
            AssistantToken.current.is_(False),
            AssistantToken.revoked_at.is_(None),
            AssistantToken.expires_at.is_(None),
        )
        .values(expires_at=now + grace)
    )
    return result.rowcount or 0


async def revoke_all(session: AsyncSession, assistant_id: uuid.UUID, *, now: datetime | None = None) -> None:
    await session.execute(
        update(AssistantToken)
        .where(AssistantToken.assistant_id == assistant_id, AssistantToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
    )


async def delete_ended(session: AsyncSession, *, ended_before: datetime, limit: int) -> int:
    """Up to `limit` tokens that expired or were revoked before `ended_before`: refused since, so only a
    secret kept for nothing (encrypted)."""
    ended = (
        select(AssistantToken.id)
        .where(or_(AssistantToken.expires_at < ended_before, AssistantToken.revoked_at < ended_before))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(AssistantToken).where(AssistantToken.id.in_(ended.scalar_subquery())))
    return result.rowcount or 0
