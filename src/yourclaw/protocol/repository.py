"""SQL of the assistant protocol: the user's inbound queue (hand-out, lease, ack, an instance's retirement),
the outbox rows the assistant stores with us (by idempotency key) and its polls. Every statement is scoped to
the token's user. The media it stores and serves are in `media_repository`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import Assistant, InboundMessage, Outbox

IN_QUEUE = ("QUEUED", "LEASED")


@dataclass(frozen=True)
class HandedOut:
    id: uuid.UUID
    user_id: uuid.UUID
    body: str
    media: list[dict]
    received_at: datetime
    deliveries: int
    # Twilio's MessageSid: what the typing indicator is shown against.
    message_sid: str = ""


@dataclass(frozen=True)
class Take:
    """What one hand-out attempt found: a message, or how long the one in flight still holds the queue
    (`busy_for` seconds; None when the queue is empty)."""

    message: HandedOut | None = None
    busy_for: float | None = None


async def notify_user_inbound(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(channels.USER_INBOUND, str(user_id))))


async def retire_instance(session: AsyncSession, user_id: uuid.UUID, instance_id: str) -> int:
    """The instance's container was stopped for good (its volume moved to another host, or restored): its
    polls get nothing more (one may still be waiting on the server, its client gone) and what it held goes back
    to the queue at once, so the next container does not wait out the lease. A message it had finished is
    acked unanswered by the next one (the finished ids are kept on the volume, which moves with it). Returns how
    many messages went back.

    It takes the user's queue locks first, as `hand_out` does, then the assistant's row, which `hand_out` reads
    under a share lock: a hand-out in flight finishes (and its lease is given back below), or it waits and sees
    the instance retired. Without the queue locks the two would wait on each other in opposite order."""
    await _lock_queue(session, user_id)
    await session.execute(
        update(Assistant)
        .where(Assistant.user_id == user_id)
        .values(superseded_instance_ids=func.array_append(Assistant.superseded_instance_ids, instance_id))
    )
    result = await session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.user_id == user_id,
            InboundMessage.status == "LEASED",
            InboundMessage.lease_instance == instance_id,
        )
        .values(status="QUEUED", lease_until=None, lease_instance=None)
    )
    if result.rowcount:
        await notify_user_inbound(session, user_id)
    return result.rowcount


async def _lock_queue(session: AsyncSession, user_id: uuid.UUID) -> list:
    """Every queued or leased message of the user, locked in queue order (the order every taker locks them in)."""
    return (
        await session.execute(
            select(InboundMessage.id, InboundMessage.status, InboundMessage.lease_until)
            .where(InboundMessage.user_id == user_id, InboundMessage.status.in_(IN_QUEUE))
            .order_by(InboundMessage.received_at, InboundMessage.id)
            .with_for_update()
        )
    ).all()


async def hand_out(session: AsyncSession, user_id: uuid.UUID, *, instance_id: str, lease_seconds: int) -> Take:
    """Lease the user's oldest deliverable message (QUEUED, or LEASED with a lapsed lease) unless another
    is in flight. Every queued row of the user is locked, in queue order, so two concurrent polls of one
    user take turns: the second sees the first's lease once it commits and hands out nothing."""
    rows = await _lock_queue(session, user_id)
    if not rows:
        return Take()
    # Checked once the queue's locks are held, and under a share lock on the assistant's row, which a
    # retirement (`retire_instance`) updates: this waits for a retirement in flight and then sees it, or the
    # retirement waits for this hand-out and gives its lease back. The ids are compared here, not in the
    # WHERE clause, which would be judged on the snapshot and skip the row (and its lock) before the wait.
    retired = await session.scalar(
        select(Assistant.superseded_instance_ids).where(Assistant.user_id == user_id).with_for_update(read=True)
    )
    if retired is not None and instance_id in retired:
        return Take()
    # Compared here, on the row versions the lock returned, rather than in the WHERE clause: a
    # condition there would be judged on the snapshot taken before waiting for the lock. And against
    # the clock once the locks are held, not now(), which is when the transaction began.
    now = await session.scalar(select(func.clock_timestamp()))
    held = [r.lease_until for r in rows if r.status == "LEASED" and r.lease_until is not None and r.lease_until > now]
    if held:
        return Take(busy_for=(min(held) - now).total_seconds())
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.id == rows[0].id, InboundMessage.user_id == user_id)
        .values(
            status="LEASED",
            lease_until=func.clock_timestamp() + timedelta(seconds=lease_seconds),
            leased_at=func.clock_timestamp(),
            lease_instance=instance_id,
            deliveries=InboundMessage.deliveries + 1,
        )
        .returning(
            InboundMessage.id,
            InboundMessage.user_id,
            InboundMessage.body,
            InboundMessage.media,
            InboundMessage.received_at,
            InboundMessage.deliveries,
            InboundMessage.message_sid,
        )
    )
    row = (await session.execute(stmt)).one()
    return Take(
        message=HandedOut(
            row.id, row.user_id, row.body, list(row.media or []), row.received_at, row.deliveries, row.message_sid
        )
    )


async def _status(session: AsyncSession, message_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(InboundMessage.status).where(InboundMessage.id == message_id, InboundMessage.user_id == user_id)
    )


async def extend(
    session: AsyncSession,
    message_id: uuid.UUID,
    user_id: uuid.UUID,
    assistant_id: uuid.UUID,
    *,
    instance_id: str | None,
    lease_seconds: int,
) -> tuple[Literal["extended", "missing", "not_held"], str | None]:
    """Renew the lease, only for the instance holding it, and only while that is the assistant's current
    instance: a superseded container's turn must not keep the message from the new one. With the outcome,
    the message's MessageSid when extended (the typing indicator is renewed against it)."""
    current_instance = (
        select(Assistant.instance_id)
        .where(Assistant.id == assistant_id, Assistant.user_id == user_id)
        .scalar_subquery()
    )
    conditions = [
        InboundMessage.id == message_id,
        InboundMessage.user_id == user_id,
        InboundMessage.status == "LEASED",
        InboundMessage.lease_instance == current_instance,
    ]
    if instance_id is not None:
        conditions.append(InboundMessage.lease_instance == instance_id)
    stmt = (
        update(InboundMessage)
        .where(*conditions)
        .values(lease_until=func.clock_timestamp() + timedelta(seconds=lease_seconds))
        .returning(InboundMessage.message_sid)
    )
    message_sid = await session.scalar(stmt)
    if message_sid is not None:
        # The current instance is alive and working: a turn longer than the disconnect limit polls for
        # nothing meanwhile, and must not get its container restarted under it.
        await session.execute(
            update(Assistant).where(Assistant.id == assistant_id).values(last_poll_at=func.clock_timestamp())
        )
        return "extended", message_sid
    return ("missing" if await _status(session, message_id, user_id) is None else "not_held"), None


async def ack(
    session: AsyncSession, message_id: uuid.UUID, user_id: uuid.UUID
) -> Literal["acked", "already", "missing", "not_leased"]:
    """Done, whichever of the user's instances ran the turn (its replies are stored already); acking
    again changes nothing."""
    stmt = (
        update(InboundMessage)
        .where(
            InboundMessage.id == message_id,
            InboundMessage.user_id == user_id,
            InboundMessage.status == "LEASED",
        )
        .values(status="DONE", acked_at=func.now())
        .returning(InboundMessage.id)
    )
    if await session.scalar(stmt) is not None:
        await notify_user_inbound(session, user_id)
        return "acked"
    status = await _status(session, message_id, user_id)
    if status is None:
        return "missing"
    return "already" if status == "DONE" else "not_leased"


@dataclass(frozen=True)
class RepliedTo:
    """What an outbound message's `in_reply_to` names: one of the user's messages, and whether it was
    handed to their assistant recently enough for an answer to count as a reply."""

    exists: bool
    leased_recently: bool


async def replied_to(
    session: AsyncSession, user_id: uuid.UUID, message_id: uuid.UUID, *, within: timedelta
) -> RepliedTo:
    # The user's messages are handed to their one assistant only (assistants are unique per user), so
    # "handed out to this assistant" is "handed out, for this user".
    recent = func.coalesce(InboundMessage.leased_at > func.now() - within, False)
    row = (
        await session.execute(select(recent).where(InboundMessage.id == message_id, InboundMessage.user_id == user_id))
    ).first()
    return RepliedTo(exists=row is not None, leased_recently=bool(row and row[0]))


# --- outbox ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredOutbound:
    id: int
    kind: str  # granted
    requested_kind: str
    body: str
    media_id: uuid.UUID | None
    in_reply_to: uuid.UUID | None


async def insert_outbound(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    idempotency_key: str,
    kind: str,
    requested_kind: str,
    text: str,
    media_id: uuid.UUID | None,
    in_reply_to: uuid.UUID | None,
) -> int | None:
    """The new row's id, or None when the key was stored before (perhaps by a concurrent retry, which
    this waits for: the unique index decides)."""
    stmt = (
        insert(Outbox)
        .values(
            user_id=user_id,
            kind=kind,
            requested_kind=requested_kind,
            body=text,
            idempotency_key=idempotency_key,
            media_id=media_id,
            in_reply_to=in_reply_to,
        )
        .on_conflict_do_nothing(
            index_elements=[Outbox.user_id, Outbox.idempotency_key],
            index_where=Outbox.idempotency_key.is_not(None),
        )
        .returning(Outbox.id)
    )
    new_id = await session.scalar(stmt)
    if new_id is not None:
        # Delivered at commit: the sender never wakes for a row it cannot see yet.
        await session.execute(select(func.pg_notify(channels.OUTBOX, str(user_id))))
    return new_id


async def outbound_by_key(session: AsyncSession, user_id: uuid.UUID, idempotency_key: str) -> StoredOutbound | None:
    row = (
        await session.execute(
            select(
                Outbox.id,
                Outbox.kind,
                # Rows stored before the kind was checked asked for what they were granted.
                func.coalesce(Outbox.requested_kind, Outbox.kind),
                Outbox.body,
                Outbox.media_id,
                Outbox.in_reply_to,
            ).where(Outbox.user_id == user_id, Outbox.idempotency_key == idempotency_key)
        )
    ).first()
    return StoredOutbound(*row) if row else None


# --- polls ------------------------------------------------------------------------------------------


async def lock_for_poll(
    session: AsyncSession, assistant_id: uuid.UUID, user_id: uuid.UUID, *, fresh_within: timedelta
) -> Row | None:
    """What a poll compares against, with the row locked; `fresh` says the last recorded poll is
    younger than `fresh_within` by the database's clock (the one that wrote it)."""
    fresh = func.coalesce(Assistant.last_poll_at > func.now() - fresh_within, False)
    stmt = (
        select(
            Assistant.wanted,
            Assistant.instance_id,
            Assistant.superseded_instance_ids,
            Assistant.last_poll_generation,
            fresh.label("fresh"),
        )
        .where(Assistant.id == assistant_id, Assistant.user_id == user_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).first()


async def record_poll(
    session: AsyncSession,
    assistant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    instance_id: str,
    generation: int,
    superseded: list[str],
) -> None:
    await session.execute(
        update(Assistant)
        .where(Assistant.id == assistant_id, Assistant.user_id == user_id)
        .values(
            last_poll_at=func.now(),
            last_poll_generation=generation,
            instance_id=instance_id,
            superseded_instance_ids=superseded,
        )
    )


async def notify_poll_change(session: AsyncSession, assistant_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(channels.POLLS, str(assistant_id))))
