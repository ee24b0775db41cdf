"""SQL of the media the assistant protocol serves: pictures and voice notes a user sent (fetched from Twilio
once, `inbound_media`) and the assistant's uploads, kept MEDIA_RETENTION, scoped to their user except loading
by a signed URL (`media_urls`), where the signature is the permission."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import Assistant, HostServer, InboundMessage, Media

# Long enough for a held message (quiet hours, outside the 24-hour window) to still have its picture
# when it finally goes; a cleanup may delete rows past `expires_at`.
MEDIA_RETENTION = timedelta(days=30)
# Two-key advisory locks, apart from the reconciler's one-key lock and the sender's class ("YS").
MEDIA_LOCK_CLASS = 0x594D  # "YM": one upload at a time per user, for the media quota


async def store_media(
    session: AsyncSession, user_id: uuid.UUID, *, source: str, content_type: str, data: bytes
) -> uuid.UUID:
    stmt = (
        insert(Media)
        .values(
            user_id=user_id,
            source=source,
            content_type=content_type,
            size=len(data),
            data=data,
            expires_at=func.now() + MEDIA_RETENTION,
        )
        .returning(Media.id)
    )
    return (await session.execute(stmt)).scalar_one()


async def store_upload(
    session: AsyncSession, user_id: uuid.UUID, *, content_type: str, data: bytes, quota: int
) -> uuid.UUID | None:
    """The assistant's upload, or None when it and the user's uploads not yet expired would pass `quota`
    bytes. One upload at a time per user (a lock until the request commits), so concurrent ones cannot all
    fit in what is left."""
    await session.execute(select(func.pg_advisory_xact_lock(MEDIA_LOCK_CLASS, func.hashtext(str(user_id)))))
    stored = await session.scalar(
        select(func.coalesce(func.sum(Media.size), 0)).where(
            Media.user_id == user_id, Media.source == "outbound", Media.expires_at > func.now()
        )
    )
    if stored + len(data) > quota:
        return None
    return await store_media(session, user_id, source="outbound", content_type=content_type, data=data)


async def delete_expired_media(session: AsyncSession, *, limit: int) -> int:
    """Up to `limit` media past `expires_at`, which nothing serves any more (`owns_media`, `load_media`).
    Rows another sweep holds are skipped."""
    expired = (
        select(Media.id)
        .where(Media.expires_at < func.now())
        .order_by(Media.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(Media).where(Media.id.in_(expired.scalar_subquery())))
    return result.rowcount or 0


async def owns_media(session: AsyncSession, user_id: uuid.UUID, media_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Media.id).where(Media.id == media_id, Media.user_id == user_id, Media.expires_at > func.now())
    )
    return found is not None


async def load_media(session: AsyncSession, media_id: uuid.UUID) -> tuple[str, bytes] | None:
    row = (
        await session.execute(
            select(Media.content_type, Media.data).where(Media.id == media_id, Media.expires_at > func.now())
        )
    ).first()
    return (row.content_type, row.data) if row else None


async def host_runtime_api_url(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """What the containers of the user's host call to reach us, when that host names its own address."""
    return await session.scalar(
        select(HostServer.runtime_api_url)
        .join(Assistant, Assistant.host_server_id == HostServer.id)
        .where(Assistant.user_id == user_id)
    )


async def cache_message_media(
    session: AsyncSession,
    message_id: uuid.UUID,
    user_id: uuid.UUID,
    resolve: Callable[[list[dict]], list[tuple[dict, bytes | None]]],
) -> list[dict]:
    """Replace a message's Twilio media entries with our own, once. The row is locked: when a redelivery
    raced this one and got there first, its entries stand and `resolve` is not called (nothing stored
    twice). `resolve` maps the current entries to (new entry, bytes to store or None)."""
    current = await session.scalar(
        select(InboundMessage.media)
        .where(InboundMessage.id == message_id, InboundMessage.user_id == user_id)
        .with_for_update()
    )
    entries = list(current or [])
    if all(not needs_fetch(entry) for entry in entries):
        return entries
    resolved = []
    for entry, data in resolve(entries):
        if data is not None:
            media_id = await store_media(
                session, user_id, source="inbound", content_type=entry["content_type"], data=data
            )
            entry = {"media_id": str(media_id), "content_type": entry["content_type"]}
        resolved.append(entry)
    await session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.user_id == user_id)
        .values(media=resolved)
    )
    return resolved


def needs_fetch(entry: dict) -> bool:
    """Still as the webhook stored it: a Twilio URL, neither fetched nor given up on."""
    return isinstance(entry, dict) and "media_id" not in entry and "error" not in entry
