"""SQL of the sender. A recipient's messages are sent by whoever holds the recipient's advisory lock, on
the connection that holds it; every write below is its own short transaction on that connection, so
progress (each part's Twilio sid) is durable the moment it is known.

A recipient is a user (their verified number) or, for a number with no account yet, that number.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, cast, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from yourclaw.db.models import Message, Outbox, UsageDaily, User, UserPhone
from yourclaw.messaging.outbound import delivery_statuses
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp

# Two-key advisory locks live apart from the reconciler's one-key lock.
LOCK_CLASS = 0x5953  # "YS": yourclaw sender
UNFINISHED = ("PENDING", "SENDING", "HELD")


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID | None
    to_phone: str | None

    @property
    def lock_name(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"phone:{self.to_phone}"


def _of(recipient: Recipient):
    if recipient.user_id is not None:
        return Outbox.user_id == recipient.user_id
    return and_(Outbox.user_id.is_(None), Outbox.to_phone == recipient.to_phone)


_DUE = or_(Outbox.not_before.is_(None), Outbox.not_before <= func.now())


async def ready_recipients(conn: AsyncConnection, limit: int) -> list[Recipient]:
    """Recipients whose oldest unfinished message can be acted on now, oldest first. A message deferred
    to later (quiet hours, the daily cap) lets the ones behind it pass; any other blocks them (order):
    a retry's backoff, or the text held for the user's reply."""
    recipient_key = func.coalesce(cast(Outbox.user_id, String), Outbox.to_phone)
    heads = (
        select(
            Outbox.id,
            Outbox.user_id,
            Outbox.to_phone,
            Outbox.status,
            Outbox.next_attempt_at,
            Outbox.held_since,
        )
        .where(Outbox.status.in_(UNFINISHED), _DUE)
        .ext(distinct_on(recipient_key))
        .order_by(recipient_key, Outbox.id)
        .cte("heads")
    )
    phone = UserPhone.__table__.alias("phone")
    query = (
        select(heads.c.user_id, heads.c.to_phone)
        .select_from(heads.outerjoin(phone, and_(phone.c.user_id == heads.c.user_id, phone.c.verified_at.is_not(None))))
        .where(
            or_(heads.c.next_attempt_at.is_(None), heads.c.next_attempt_at <= func.now()),
            # Only verified numbers get a user's messages; the rest wait for verification.
            or_(heads.c.user_id.is_(None), phone.c.id.is_not(None)),
            or_(heads.c.status != "HELD", phone.c.last_inbound_at > heads.c.held_since),
        )
        .order_by(heads.c.id)
        .limit(limit)
    )
    # A user's rows may carry a to_phone too: a user is one recipient whatever their rows say.
    return [Recipient(r.user_id, None if r.user_id else r.to_phone) for r in await conn.execute(query)]


async def try_lock(conn: AsyncConnection, recipient: Recipient) -> bool:
    held = await conn.scalar(select(func.pg_try_advisory_lock(LOCK_CLASS, func.hashtext(recipient.lock_name))))
    await conn.commit()
    return bool(held)


async def unlock(conn: AsyncConnection, recipient: Recipient) -> None:
    await conn.execute(select(func.pg_advisory_unlock(LOCK_CLASS, func.hashtext(recipient.lock_name))))
    await conn.commit()


@dataclass(frozen=True)
class Head:
    """The recipient's next message, with what the delivery policy needs to know about them."""

    id: int
    user_id: uuid.UUID | None
    kind: str
    body: str
    status: str
    template: str | None
    template_vars: dict | None
    media_id: uuid.UUID | None
    attempts: int
    next_attempt_at: datetime | None
    parts_sent: int
    twilio_sids: list[str]
    held_since: datetime | None
    now: datetime
    phone: str | None  # where it goes; None: the user has no verified number
    last_inbound_at: datetime | None
    opted_out_at: datetime | None
    timezone: str | None
    proactive_today: int
    parts_today: int  # WhatsApp messages of every kind sent to the user today
    capped_today: bool  # the daily part cap held a message back today
    today: date  # the usage day (the database's calendar, as the counters use)
    usage_day_ends_at: datetime


async def head(conn: AsyncConnection, recipient: Recipient) -> Head | None:
    row = (
        await conn.execute(
            select(Outbox.__table__)
            .where(_of(recipient), Outbox.status.in_(UNFINISHED), _DUE)
            .order_by(Outbox.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    clock = (
        await conn.execute(select(func.now(), literal_column("(current_date + 1)::timestamptz"), func.current_date()))
    ).first()
    now, day_ends, today = clock
    phone = last_inbound = opted_out = timezone = None
    proactive_today = parts_today = 0
    capped_today = False
    if recipient.user_id is not None:
        facts = (
            await conn.execute(
                select(UserPhone.phone_e164, UserPhone.last_inbound_at, UserPhone.opted_out_at, User.timezone)
                .join(User, User.id == UserPhone.user_id)
                .where(UserPhone.user_id == recipient.user_id, UserPhone.verified_at.is_not(None))
            )
        ).first()
        if facts is not None:
            phone, last_inbound, opted_out, timezone = facts
        # Exact, not a snapshot to race: only the holder of the recipient's lock sends to them, and it
        # counts each part (`_audit`) before it reads this again.
        counts = (
            await conn.execute(
                select(
                    UsageDaily.proactive_count,
                    UsageDaily.outbound_count,
                    UsageDaily.outbound_capped_at.is_not(None),
                ).where(UsageDaily.user_id == recipient.user_id, UsageDaily.day == today)
            )
        ).first()
        if counts is not None:
            proactive_today, parts_today, capped_today = counts
    else:
        phone = recipient.to_phone
    await conn.commit()
    o = row
    return Head(
        id=o.id,
        user_id=o.user_id,
        kind=o.kind,
        body=o.body,
        status=o.status,
        template=o.template,
        template_vars=o.template_vars,
        media_id=o.media_id,
        attempts=o.attempts,
        next_attempt_at=o.next_attempt_at,
        parts_sent=o.parts_sent,
        twilio_sids=list(o.twilio_sids or []),
        held_since=o.held_since,
        now=now,
        phone=phone,
        last_inbound_at=last_inbound,
        opted_out_at=opted_out,
        timezone=timezone,
        proactive_today=proactive_today,
        parts_today=parts_today,
        capped_today=capped_today,
        today=today,
        usage_day_ends_at=day_ends,
    )


async def _update(conn: AsyncConnection, outbox_id: int, *conditions, **values) -> bool:
    result = await conn.execute(update(Outbox).where(Outbox.id == outbox_id, *conditions).values(**values))
    await conn.commit()
    return result.rowcount == 1


async def mark_in_flight(conn: AsyncConnection, outbox_id: int) -> None:
    """Committed before Twilio is called: a row found SENDING later may have gone out (see reconcile)."""
    await _update(conn, outbox_id, status="SENDING")


async def record_part(
    conn: AsyncConnection,
    head: Head,
    sid: str,
    body: str,
    total_parts: int,
    delivery_status: str | None,
    *,
    first_contact_proactive: bool,
) -> bool:
    """One part went: its sid, the audit row and the counters, in one transaction. False if the row had
    moved on (it never should: only the lock holder writes)."""
    index = head.parts_sent
    done = index + 1 >= total_parts
    result = await conn.execute(
        update(Outbox)
        .where(Outbox.id == head.id, Outbox.parts_sent == index)
        .values(
            parts_sent=index + 1,
            twilio_sids=func.array_append(Outbox.twilio_sids, sid),
            status="SENT" if done else "PENDING",
            sent_at=func.now() if done else None,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
        )
    )
    if result.rowcount != 1:
        await conn.rollback()
        return False
    await _audit(conn, head, sid, body, delivery_status, proactive=first_contact_proactive)
    await conn.commit()
    return True


async def record_template(conn: AsyncConnection, head: Head, sid: str, body: str, delivery_status: str | None) -> None:
    """The template went: the text now waits for the user to write back."""
    await conn.execute(
        update(Outbox)
        .where(Outbox.id == head.id)
        .values(status="HELD", held_since=func.now(), attempts=0, next_attempt_at=None, last_error=None)
    )
    await _audit(conn, head, sid, body, delivery_status, proactive=False)
    await conn.commit()


async def _audit(
    conn: AsyncConnection, head: Head, sid: str, body: str, delivery_status: str | None, *, proactive: bool
) -> None:
    user_id = head.user_id
    if user_id is None:  # a number with no account: nobody's conversation to log
        return
    delivery_status = await delivery_statuses.take_early(conn, sid, delivery_status)
    await conn.execute(
        insert(Message).values(
            user_id=user_id,
            direction="OUTBOUND",
            kind=head.kind,
            body=body,
            twilio_sid=sid,
            delivery_status=delivery_status,
        )
    )
    await conn.execute(
        insert(UsageDaily)
        .values(user_id=user_id, outbound_count=1, proactive_count=1 if proactive else 0)
        .on_conflict_do_update(
            index_elements=[UsageDaily.user_id, UsageDaily.day],
            set_={
                "outbound_count": UsageDaily.outbound_count + 1,
                "proactive_count": UsageDaily.proactive_count + (1 if proactive else 0),
                "updated_at": func.now(),
            },
        )
    )


async def hold_until(conn: AsyncConnection, outbox_id: int, until: datetime, reason: str) -> None:
    await _update(conn, outbox_id, status="PENDING", not_before=until, last_error=reason)


async def hold_at_part_cap(
    conn: AsyncConnection,
    outbox_id: int,
    user_id: uuid.UUID,
    until: datetime,
    reason: str,
    *,
    notice: str,
    notice_key: str,
) -> bool:
    """The daily part cap holds the message back: the day is marked capped (the rest of it waits too,
    and the dashboard says so) and, the first time that day, the user is told. True when the notice was
    queued. One transaction."""
    await conn.execute(
        update(Outbox).where(Outbox.id == outbox_id).values(status="PENDING", not_before=until, last_error=reason)
    )
    newly_capped = await conn.scalar(
        insert(UsageDaily)
        .values(user_id=user_id, outbound_capped_at=func.now())
        .on_conflict_do_update(
            index_elements=[UsageDaily.user_id, UsageDaily.day],
            set_={"outbound_capped_at": func.now(), "updated_at": func.now()},
            where=UsageDaily.outbound_capped_at.is_(None),
        )
        .returning(UsageDaily.id)
    )
    queued = False
    if newly_capped is not None:
        queued = await enqueue_whatsapp(conn, user_id, notice, "system", dedupe_key=notice_key) is not None
    await conn.commit()
    return queued


async def wait_for_reply(conn: AsyncConnection, outbox_id: int, reason: str) -> None:
    await _update(conn, outbox_id, status="HELD", held_since=func.now(), last_error=reason)


async def release(conn: AsyncConnection, outbox_id: int) -> None:
    """Nothing went: the row is plainly pending again."""
    await _update(conn, outbox_id, Outbox.status == "SENDING", status="PENDING")


async def retry_later(
    conn: AsyncConnection, outbox_id: int, *, attempts: int, delay: float, error: str, maybe_sent: bool
) -> None:
    """A failure worth retrying. `maybe_sent` keeps the row SENDING, so the next attempt first asks
    Twilio whether the message went after all."""
    await _update(
        conn,
        outbox_id,
        status="SENDING" if maybe_sent else "PENDING",
        attempts=attempts,
        next_attempt_at=func.now() + timedelta(seconds=delay),
        last_error=error,
    )


async def finish(conn: AsyncConnection, outbox_id: int, status: str, error: str) -> None:
    """FAILED (Twilio refused it for good) or CANCELED (policy: the user sent STOP)."""
    await _update(conn, outbox_id, status=status, last_error=error, next_attempt_at=None)


async def known_sids(conn: AsyncConnection, recipient: Recipient, phone: str, since: datetime) -> set[str]:
    """Twilio sids we already recorded for this number: a message Twilio lists that is not among them
    is one whose answer we never saw."""
    parts = select(func.unnest(Outbox.twilio_sids)).where(
        or_(_of(recipient), Outbox.to_phone == phone), Outbox.updated_at >= since
    )
    sids = set((await conn.scalars(parts)).all())
    if recipient.user_id is not None:
        logged = select(Message.twilio_sid).where(
            Message.user_id == recipient.user_id, Message.created_at >= since, Message.twilio_sid.is_not(None)
        )
        sids |= set((await conn.scalars(logged)).all())
    await conn.commit()
    return sids
