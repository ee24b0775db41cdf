"""SQL of the inbound side: the webhook's writes, the router's reads and writes, and the dashboard's
views. Queries that serve a user's request are scoped to that user."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from yourclaw.credits.ledger import Balance
from yourclaw.db import channels
from yourclaw.db.models import InboundMessage, Message, Outbox, UsageDaily, UserPhone

# --- the webhook ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    message_sid: str
    from_phone: str
    body: str
    profile_name: str | None
    wa_id: str | None
    media: list[dict[str, str]]
    button_payload: str | None = None


# Several webhooks in one statement and one commit (see `writer`). Rows go in in arrival order,
# each stamped with its own clock reading, so the router still takes one sender's messages in order.
# The senders' rows are locked in phone order first: two writers (two API processes) whose batches share
# numbers then wait for each other instead of deadlocking.
_RECEIVE_MANY = text(
    """
    WITH batch AS (
        SELECT * FROM unnest(
            CAST(:sids AS text[]), CAST(:phones AS text[]), CAST(:bodies AS text[]),
            CAST(:profile_names AS text[]), CAST(:wa_ids AS text[]), CAST(:media AS jsonb[]),
            CAST(:buttons AS text[])
        ) WITH ORDINALITY AS b(sid, phone, body, profile_name, wa_id, media, button_payload, n)
    ), stored AS (
        INSERT INTO inbound_messages
            (message_sid, from_phone, body, profile_name, wa_id, media, button_payload, status, received_at)
        SELECT sid, phone, body, profile_name, wa_id, media, button_payload, 'RECEIVED', clock_timestamp()
        FROM batch ORDER BY n
        ON CONFLICT (message_sid) DO NOTHING
        RETURNING id, message_sid, from_phone
    ), senders AS (
        SELECT DISTINCT ON (s.from_phone) s.from_phone, b.profile_name
        FROM stored s JOIN batch b ON b.sid = s.message_sid
        ORDER BY s.from_phone, b.n DESC
    ), locked AS (
        SELECT p.id FROM user_phones p JOIN senders s ON s.from_phone = p.phone_e164
        WHERE p.verified_at IS NOT NULL
        ORDER BY p.phone_e164
        FOR UPDATE OF p
    ), window_opened AS (
        UPDATE user_phones p
        SET last_inbound_at = now(), profile_name = COALESCE(s.profile_name, p.profile_name), updated_at = now()
        FROM senders s
        WHERE p.phone_e164 = s.from_phone AND p.id IN (SELECT id FROM locked)
        RETURNING p.user_id
    ), woke_sender AS (
        SELECT pg_notify(:outbox_channel, w.user_id::text) FROM window_opened w
        WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.user_id = w.user_id AND o.status IN ('PENDING', 'HELD'))
    )
    SELECT s.message_sid, s.id, (SELECT count(*) FROM woke_sender) AS woke FROM stored s
    """
)


async def receive_many(session: AsyncSession | AsyncConnection, messages: list[Received]) -> list[uuid.UUID | None]:
    """The webhooks' whole write in one round trip: store the messages (None for a MessageSid Twilio
    already delivered, or one repeated in the batch), open the verified numbers' 24-hour windows, and
    wake the sender only for users who have something waiting (a NOTIFY serialises commits, so not one
    per message; the router is woken after the commit, see `router_wakeup`). Ids come back in order."""
    result = await session.execute(
        _RECEIVE_MANY,
        {
            "sids": [m.message_sid for m in messages],
            "phones": [m.from_phone for m in messages],
            "bodies": [m.body for m in messages],
            "profile_names": [m.profile_name for m in messages],
            "wa_ids": [m.wa_id for m in messages],
            "media": [json.dumps(m.media) for m in messages],
            "buttons": [m.button_payload for m in messages],
            "outbox_channel": channels.OUTBOX,
        },
    )
    stored = {sid: row_id for sid, row_id, _ in result.all()}
    # A MessageSid twice in one batch was stored once: the first of them gets the id.
    return [stored.pop(m.message_sid, None) for m in messages]


async def receive(session: AsyncSession | AsyncConnection, message: Received) -> uuid.UUID | None:
    """One webhook's write (see `receive_many`)."""
    return (await receive_many(session, [message]))[0]


# --- the router ----------------------------------------------------------------------------------


async def claim_heads(session: AsyncSession, limit: int, skip: set[uuid.UUID]) -> list[InboundMessage]:
    """The oldest unrouted message of each sender, locked for this transaction. Only heads: routing a
    sender's messages in order keeps STOP, limits and the assistant's queue in the order they were sent,
    even with several routers (one that skips a locked head cannot take the message behind it)."""
    older = aliased(InboundMessage)
    earlier = or_(
        older.received_at < InboundMessage.received_at,
        and_(older.received_at == InboundMessage.received_at, older.id < InboundMessage.id),
    )
    is_head = ~(
        select(literal(1))
        .where(older.status == "RECEIVED", older.from_phone == InboundMessage.from_phone, earlier)
        .exists()
    )
    stmt = select(InboundMessage).where(InboundMessage.status == "RECEIVED", is_head)
    if skip:
        stmt = stmt.where(InboundMessage.id.not_in(skip))
    stmt = stmt.order_by(InboundMessage.received_at, InboundMessage.id).limit(limit)
    stmt = stmt.with_for_update(skip_locked=True, of=InboundMessage)
    return list((await session.scalars(stmt.execution_options(populate_existing=True))).all())


async def refuse_unroutable(session: AsyncSession, message_id: uuid.UUID) -> bool:
    """A message that failed to route too often; False when it was routed meanwhile."""
    done = await session.scalar(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.status == "RECEIVED")
        .values(status="REFUSED", detail="INTERNAL", routed_at=func.now())
        .returning(InboundMessage.id)
    )
    return done is not None


async def verified_phone(session: AsyncSession, phone: str) -> UserPhone | None:
    stmt = select(UserPhone).where(UserPhone.phone_e164 == phone, UserPhone.verified_at.is_not(None))
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def pending_with_code(session: AsyncSession, phone: str, code: str) -> UserPhone | None:
    """The unverified row for this number with this code, locked: one verification at a time per row."""
    stmt = (
        select(UserPhone)
        .where(
            UserPhone.phone_e164 == phone,
            UserPhone.verification_code == code,
            UserPhone.verified_at.is_(None),
        )
        .with_for_update()
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def mark_verified(
    session: AsyncSession, phone_id: uuid.UUID, *, wrote_at: datetime, profile_name: str | None
) -> None:
    """Proven. The code is spent, and the "link" message itself opened the 24-hour window, so the
    welcome goes out as a plain message."""
    values: dict[str, object] = {
        "verified_at": func.now(),
        "verification_code": None,
        "code_expires_at": None,
        "last_inbound_at": wrote_at,
        "opted_out_at": None,
    }
    if profile_name:
        values["profile_name"] = profile_name
    await session.execute(update(UserPhone).where(UserPhone.id == phone_id).values(**values))


async def set_opted_out(session: AsyncSession, user_id: uuid.UUID, opted_out: bool) -> None:
    value = func.coalesce(UserPhone.opted_out_at, func.now()) if opted_out else None
    await session.execute(
        update(UserPhone)
        .where(UserPhone.user_id == user_id, UserPhone.verified_at.is_not(None))
        .values(opted_out_at=value)
    )


@dataclass(frozen=True)
class SenderFacts:
    """What the router needs to know of a verified number's owner, read in one round trip."""

    user_id: uuid.UUID
    assistant_status: str | None  # of the wanted assistant; None: none
    queued_at: list[datetime]  # when their messages that reached the queue arrived, since `since`
    own_key: bool
    balance: Balance


_SENDER_FACTS = text(
    """
    SELECT p.user_id,
        (SELECT a.status FROM assistants a WHERE a.user_id = p.user_id AND a.wanted) AS assistant_status,
        ARRAY(
            SELECT m.received_at FROM inbound_messages m
            WHERE m.user_id = p.user_id AND m.received_at > :since
              AND m.status IN ('QUEUED', 'LEASED', 'DONE') AND m.detail IS NULL
        ) AS queued_at,
        EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = p.user_id) AS own_key,
        COALESCE(c.total_millicents, 0) AS total_millicents,
        COALESCE(c.used_millicents, 0) AS used_millicents
    FROM user_phones p LEFT JOIN user_credits c ON c.user_id = p.user_id
    WHERE p.phone_e164 = :phone AND p.verified_at IS NOT NULL
    """
)


async def sender_facts(session: AsyncSession, phone: str, since: datetime) -> SenderFacts | None:
    """The verified owner of `phone` with their assistant's status, recent queued messages (rate
    limits), own key and balance (`credits.decide`); None when no verified number matches."""
    row = (await session.execute(_SENDER_FACTS, {"phone": phone, "since": since})).first()
    if row is None:
        return None
    return SenderFacts(row[0], row[1], list(row[2]), row[3], Balance(row[4], row[5]))


# A routed message's outcome, and when it was queued, the conversation's audit row, today's counter
# and the wake-up of the user's waiting polls: one round trip (the NOTIFY goes out at commit).
_SETTLE = text(
    """
    WITH routed AS (
        UPDATE inbound_messages SET status = :status, detail = :detail, user_id = :user_id, routed_at = now()
        WHERE id = :id
        RETURNING id
    ), audit AS (
        INSERT INTO messages (user_id, direction, kind, body)
        SELECT :user_id, 'INBOUND', 'user', :body WHERE :audited
    ), counted AS (
        INSERT INTO usage_daily (user_id, inbound_count)
        SELECT :user_id, 1 WHERE :queued
        ON CONFLICT (user_id, day) DO UPDATE
        SET inbound_count = usage_daily.inbound_count + 1, updated_at = now()
    )
    SELECT (SELECT count(*) FROM routed), (SELECT pg_notify(:channel, CAST(:user_id AS text)) WHERE :queued)
    """
).bindparams(
    bindparam("user_id", type_=Uuid()),
    bindparam("id", type_=Uuid()),
    bindparam("queued", type_=Boolean()),
    bindparam("audited", type_=Boolean()),
)


async def settle(
    session: AsyncSession,
    message_id: uuid.UUID,
    status: str,
    detail: str | None,
    user_id: uuid.UUID | None,
    *,
    queued_body: str | None = None,
    audit_body: str | None = None,
) -> None:
    """Record the router's outcome; `queued_body` (what the conversation view shows) when the message
    went to the user's assistant, whose waiting polls are then woken and today's count grows.
    `audit_body` instead: a refused message of the user's (no assistant yet, a limit) still belongs in
    their conversation, so it is there after a reload, but it is not counted and wakes nobody."""
    queued = queued_body is not None and user_id is not None
    audited = user_id is not None and (queued_body or audit_body) is not None
    await session.execute(
        _SETTLE,
        {
            "id": message_id,
            "status": status,
            "detail": detail,
            "user_id": user_id,
            "queued": queued,
            "audited": audited,
            "body": queued_body if queued_body is not None else (audit_body or ""),
            "channel": channels.USER_INBOUND,
        },
    )


async def waiting_too_long(
    session: AsyncSession, older_than: timedelta, *, dedupe_prefix: str
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(user id, message id) of each user's next message when it has been available to their assistant
    for longer than `older_than` and nothing of theirs is in flight: the assistant is not taking it.
    Available since it was queued, its lease ran out, or the message before it was acked. Messages
    already noticed (an outbox row with `dedupe_prefix` + their id) are left out."""
    head = aliased(InboundMessage)
    other = aliased(InboundMessage)
    in_flight = (
        select(literal(1))
        .where(
            other.user_id == head.user_id,
            other.status == "LEASED",
            other.lease_until >= func.now(),
        )
        .exists()
    )
    last_ack = (
        select(func.max(other.acked_at)).where(other.user_id == head.user_id, other.status == "DONE").scalar_subquery()
    )
    available_since = func.greatest(
        head.routed_at,
        case((head.status == "LEASED", head.lease_until), else_=None),
        last_ack,
    )
    waiting = or_(head.status == "QUEUED", and_(head.status == "LEASED", head.lease_until < func.now()))
    heads = (
        select(head.user_id, head.id, available_since.label("since"))
        .ext(distinct_on(head.user_id))
        .where(waiting, ~in_flight)
        .order_by(head.user_id, head.received_at, head.id)
        .subquery()
    )
    noticed = (
        select(literal(1))
        .where(Outbox.user_id == heads.c.user_id, Outbox.dedupe_key == dedupe_prefix + cast(heads.c.id, String))
        .exists()
    )
    stmt = select(heads.c.user_id, heads.c.id).where(heads.c.since < func.now() - older_than, ~noticed)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


# --- the dashboard's views -----------------------------------------------------------------------


@dataclass(frozen=True)
class UsageDays:
    first: date
    today: date
    next_day_at: datetime  # when today's counters end
    rows: list[UsageDaily]


async def usage_days(session: AsyncSession, user_id: uuid.UUID, days: int) -> UsageDays:
    """The user's counters over the last `days` days (the database's calendar, as the counters use)."""
    today, next_day_at = (
        await session.execute(select(func.current_date(), text("(current_date + 1)::timestamptz")))
    ).one()
    first = today - timedelta(days=days - 1)
    rows = await session.scalars(
        select(UsageDaily).where(UsageDaily.user_id == user_id, UsageDaily.day >= first).order_by(UsageDaily.day)
    )
    return UsageDays(first, today, next_day_at, list(rows.all()))


async def conversation_page(
    session: AsyncSession, user_id: uuid.UUID, limit: int, before: uuid.UUID | None
) -> list[Message] | None:
    """Newest first. None when `before` is not one of this user's messages."""
    stmt = select(Message).where(Message.user_id == user_id)
    if before is not None:
        cursor = (
            await session.execute(
                select(Message.created_at, Message.id).where(Message.id == before, Message.user_id == user_id)
            )
        ).first()
        if cursor is None:
            return None
        stmt = stmt.where(tuple_(Message.created_at, Message.id) < tuple_(cursor[0], cursor[1]))
    stmt = stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())
