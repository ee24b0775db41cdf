"""The one way out to WhatsApp. Any code may enqueue inside its own transaction; the sender drains it
and decides free-form or template from the 24-hour window, so callers never have to."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import Outbox
from yourclaw.db.models.messaging import OUTBOX_KINDS


async def enqueue_whatsapp(
    session: AsyncSession | AsyncConnection,
    user_id: uuid.UUID | None,
    text: str,
    kind: str = "system",
    *,
    to_phone: str | None = None,
    template: str | None = None,
    template_vars: dict[str, str] | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue one message for the user (or, with no account yet, for `to_phone`); returns its id, or None
    when `dedupe_key` was queued before (a notice such as "ready" or "out of credits today" goes out once
    however many places ask)."""
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if not text.strip():
        raise ValueError("an outbound message needs text")
    if user_id is None and not to_phone:
        raise ValueError("a message needs a user or a phone number")
    stmt = insert(Outbox).values(
        user_id=user_id,
        to_phone=to_phone,
        kind=kind,
        body=text,
        template=template,
        template_vars=template_vars,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None and user_id is not None:
        stmt = stmt.on_conflict_do_nothing(
            index_elements=[Outbox.user_id, Outbox.dedupe_key], index_where=Outbox.dedupe_key.is_not(None)
        )
    elif dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(
            index_elements=[Outbox.to_phone, Outbox.dedupe_key],
            index_where=Outbox.user_id.is_(None) & Outbox.dedupe_key.is_not(None),
        )
    new_id = await session.scalar(stmt.returning(Outbox.id))
    if new_id is not None:
        # Delivered at commit, so the sender never wakes for a message it cannot see yet.
        await session.execute(select(func.pg_notify(channels.OUTBOX, str(user_id or to_phone))))
    return new_id
