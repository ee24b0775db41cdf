"""Outbound messages the assistant posts: stored once per idempotency key, as the kind we grant.

The assistant declares `kind` itself, and whoever has a shell in the container can declare anything. A
"reply" skips the proactive daily cap and quiet hours, so it is granted only when `in_reply_to` names a
message of the user handed to the assistant within REPLY_WINDOW_SECONDS: the turn it answers. Anything
else goes as "proactive" (the cap, quiet hours and the template outside the 24-hour window apply). The
kind asked for is kept beside the one granted, so an identical retry matches whenever it comes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.protocol import repository as queue
from yourclaw.protocol.errors import IdempotencyKeyReused

log = structlog.get_logger(__name__)

MAX_IN_REPLY_TO = 100


@dataclass(frozen=True)
class Stored:
    id: int
    kind: str  # as granted


def granted_kind(requested: str, replied_to: queue.RepliedTo | None) -> str:
    if requested == "reply" and replied_to is not None and replied_to.leased_recently:
        return "reply"
    return "proactive"


def _message_id(raw: str | None) -> uuid.UUID | None:
    # Informational, never a reason to refuse: a reply must not be lost over a bad reference.
    if not raw or len(raw) > MAX_IN_REPLY_TO:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def store(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    idempotency_key: str,
    kind: str,
    text: str,
    media_id: uuid.UUID | None,
    in_reply_to: str | None,
    reply_window: timedelta,
) -> Stored:
    """Stores the message, or finds the one stored before under this key (`IdempotencyKeyReused` when
    that one differs from this request)."""
    message_id = _message_id(in_reply_to)
    replied_to = None
    if message_id is not None:
        replied_to = await queue.replied_to(session, user_id, message_id, within=reply_window)
        if not replied_to.exists:
            message_id = None
    granted = granted_kind(kind, replied_to)

    new_id = await queue.insert_outbound(
        session,
        user_id,
        idempotency_key=idempotency_key,
        kind=granted,
        requested_kind=kind,
        text=text,
        media_id=media_id,
        in_reply_to=message_id,
    )
    if new_id is not None:
        if granted != kind:
            log.info("outbound_reply_sent_as_proactive", outbox_id=new_id, named_a_message=message_id is not None)
        return Stored(new_id, granted)
    stored = await queue.outbound_by_key(session, user_id, idempotency_key)
    if stored is None:  # pragma: no cover - the conflict that skipped the insert names this row
        raise IdempotencyKeyReused("The Idempotency-Key is in use; retry")
    if (stored.requested_kind, stored.body, stored.media_id, stored.in_reply_to) != (
        kind,
        text,
        media_id,
        message_id,
    ):
        raise IdempotencyKeyReused("This Idempotency-Key was used for a different message")
    return Stored(stored.id, stored.kind)
