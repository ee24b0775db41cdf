"""SQL for users' own LLM keys; every statement is scoped to one user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import ApiKey


async def get(session: AsyncSession, user_id: uuid.UUID, provider: str) -> tuple[str | None, datetime] | None:
    """(hint, updated_at) of the user's key, never the key itself."""
    row = (
        await session.execute(
            select(ApiKey.key_hint, ApiKey.updated_at).where(ApiKey.user_id == user_id, ApiKey.provider == provider)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def put(session: AsyncSession, user_id: uuid.UUID, provider: str, encrypted_key: str, hint: str) -> datetime:
    """Set or replace the user's key; returns when."""
    return await session.scalar(
        insert(ApiKey)
        .values(user_id=user_id, provider=provider, encrypted_key=encrypted_key, key_hint=hint)
        .on_conflict_do_update(
            index_elements=[ApiKey.user_id, ApiKey.provider],
            set_={"encrypted_key": encrypted_key, "key_hint": hint, "updated_at": func.now()},
        )
        .returning(ApiKey.updated_at)
    )


async def remove(session: AsyncSession, user_id: uuid.UUID, provider: str) -> None:
    await session.execute(delete(ApiKey).where(ApiKey.user_id == user_id, ApiKey.provider == provider))
