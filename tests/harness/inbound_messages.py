"""Inbound WhatsApp messages as the webhook leaves them (stored, then the router woken after the commit), and
what routing them records: the user's message log and the day's inbound count."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from yourclaw.db.engine import transaction
from yourclaw.db.models import Message, UsageDaily
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.inbound.router_wakeup import notify_with


async def receive(
    sessions, phone: str, body: str, media: list | None = None, *, button_payload: str | None = None
) -> uuid.UUID:
    """What the webhook does: store the message, then wake the router after the commit."""
    async with transaction(sessions) as s:
        message = repo.Received(
            "SM" + uuid.uuid4().hex, phone, body, "Ann", phone.lstrip("+"), media or [], button_payload
        )
        message_id = await repo.receive(s, message)
    await notify_with(sessions.kw["bind"])(str(message_id))
    return message_id


async def audit_rows(sessions, user_id) -> list[Message]:
    async with sessions() as s:
        return list((await s.scalars(select(Message).where(Message.user_id == user_id))).all())


async def inbound_count(sessions, user_id) -> int:
    async with sessions() as s:
        return await s.scalar(
            select(func.coalesce(func.sum(UsageDaily.inbound_count), 0)).where(UsageDaily.user_id == user_id)
        )
