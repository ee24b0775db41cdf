"""Twilio's delivery statuses on the messages we sent. Its callbacks may arrive out of order, and the first
may arrive before the sender has recorded the part's sid (Twilio posts it as soon as the message is accepted,
while the sender commits after reading Twilio's answer). Such an early status is kept by sid and applied when
the part is recorded; both paths take the sid's advisory lock, so one of them always sees the other's commit.
An early status that never finds its message (a part to a number with no account) is deleted by the
retention sweep."""

from __future__ import annotations

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from yourclaw.db.models import EarlyDeliveryStatus, Message

# Two-key advisory locks, apart from the reconciler's one-key lock and the sender's class ("YS").
LOCK_CLASS = 0x5944  # "YD": one writer of a sid's delivery status at a time

# A status never goes back to an earlier one.
_STATUS_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "failed": 6,
    "undelivered": 6,
    "canceled": 6,
}
DELIVERY_STATUSES = frozenset(_STATUS_RANK)


def _later(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return b if _STATUS_RANK.get(b, 0) >= _STATUS_RANK.get(a, 0) else a


async def _lock(conn: AsyncConnection | AsyncSession, twilio_sid: str) -> None:
    await conn.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, func.hashtext(twilio_sid))))


async def set_delivery_status(session: AsyncSession, twilio_sid: str, status: str) -> bool:
    """False when no message has this sid yet: the status is kept for when it is recorded (see above)."""
    await _lock(session, twilio_sid)
    rank = case(_STATUS_RANK, value=Message.delivery_status, else_=0)
    new_rank = _STATUS_RANK.get(status, 0)
    found = await session.scalar(
        update(Message)
        .where(Message.twilio_sid == twilio_sid, or_(Message.delivery_status.is_(None), rank <= new_rank))
        .values(delivery_status=status)
        .returning(Message.id)
    )
    if found is not None:
        return True
    if await session.scalar(select(Message.id).where(Message.twilio_sid == twilio_sid)) is not None:
        return True  # a later status was already there
    kept_rank = case(_STATUS_RANK, value=EarlyDeliveryStatus.status, else_=0)
    await session.execute(
        insert(EarlyDeliveryStatus)
        .values(twilio_sid=twilio_sid, status=status)
        .on_conflict_do_update(
            index_elements=[EarlyDeliveryStatus.twilio_sid],
            set_={"status": status},
            where=kept_rank <= new_rank,
        )
    )
    return False


async def take_early(conn: AsyncConnection, twilio_sid: str, status: str | None) -> str | None:
    """The status to record a part with: Twilio's answer or an earlier callback, whichever is later. Holds the
    sid's lock until the caller commits the part, so a callback waits for the row and then finds it."""
    await _lock(conn, twilio_sid)
    early = await conn.scalar(
        delete(EarlyDeliveryStatus)
        .where(EarlyDeliveryStatus.twilio_sid == twilio_sid)
        .returning(EarlyDeliveryStatus.status)
    )
    return _later(status, early)
