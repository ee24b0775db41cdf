"""The SQL of the dashboard's views of the conversation (`views_controller`, `web`): whether the assistant is
working on a message (typing dots), its own messages per day, and the recent activity list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Uuid, and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import Message, Outbox

# A reply the sender has not handed to Twilio yet is still "typing" for the person: the assistant has
# answered, but nothing has arrived. Older than this, a pending reply is stuck, not being written.
_TYPING_REPLY_WINDOW = "2 minutes"

_ASSISTANT_WORKING = text(
    f"""
    SELECT EXISTS (
        SELECT 1 FROM inbound_messages
        WHERE user_id = :user_id AND status = 'LEASED' AND lease_until > now()
    ) OR EXISTS (
        SELECT 1 FROM outbox
        WHERE user_id = :user_id AND kind = 'reply' AND status IN ('PENDING', 'SENDING')
          AND created_at > now() - interval '{_TYPING_REPLY_WINDOW}'
          AND (not_before IS NULL OR not_before <= now())
    )
    """
).bindparams(bindparam("user_id", type_=Uuid()))


async def assistant_working(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user's assistant is on a message of theirs: handed out to it (leased, not acked) or its
    reply on the way to Twilio. The dashboard's typing dots show exactly this span, from hand-off to reply."""
    return bool(await session.scalar(_ASSISTANT_WORKING, {"user_id": user_id}))


async def assistant_messages_by_day(session: AsyncSession, user_id: uuid.UUID, first: date) -> dict[date, int]:
    """The assistant's own WhatsApp messages per day since `first` (replies and the ones it wrote first;
    not our notices such as "you're all set"), on the database's calendar like the counters."""
    day = func.date(Message.created_at)
    rows = await session.execute(
        select(day, func.count())
        .where(
            Message.user_id == user_id,
            Message.direction == "OUTBOUND",
            Message.kind.in_(("reply", "proactive")),
            Message.created_at >= first,
        )
        .group_by(day)
    )
    return {d: n for d, n in rows.all()}


# Which of our notices the activity list shows, by the outbox key that made each go once.
ACTIVITY_NOTICES = {
    "ready:": "ready",
    "low-credits:": "credits_low",
    "used-up:": "credits_used_up",
    "no-credits:": "credits_none",
}


@dataclass(frozen=True)
class ActivityRow:
    at: datetime
    kind: str  # "proactive" or one of ACTIVITY_NOTICES' values
    status: str
    body: str


async def recent_activity(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[ActivityRow]:
    """Newest first: the messages the assistant wrote on its own (reminders, alerts, digests) and our
    notices about it (ready, credits), from the outbox, so a held or pending one shows too."""
    notice = or_(*(Outbox.dedupe_key.startswith(prefix) for prefix in ACTIVITY_NOTICES))
    rows = await session.execute(
        select(Outbox.created_at, Outbox.kind, Outbox.dedupe_key, Outbox.status, Outbox.body)
        .where(Outbox.user_id == user_id, or_(Outbox.kind == "proactive", and_(Outbox.kind == "system", notice)))
        .order_by(Outbox.created_at.desc(), Outbox.id.desc())
        .limit(limit)
    )
    found = []
    for at, kind, key, status, body in rows.all():
        if kind != "proactive":
            kind = next(v for prefix, v in ACTIVITY_NOTICES.items() if (key or "").startswith(prefix))
        found.append(ActivityRow(at, kind, status, body))
    return found
