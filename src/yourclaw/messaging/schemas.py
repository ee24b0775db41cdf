"""Response shapes of the dashboard's usage and conversation views."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec


class DayUsage(msgspec.Struct):
    day: date
    inbound: int
    outbound: int
    proactive: int
    llm_spend_cents: int


class UsageLimits(msgspec.Struct):
    per_minute: int
    per_day: int
    proactive_per_day: int


class UsageCredits(msgspec.Struct):
    remaining_cents: int
    own_key: bool


class UsageOutbound(msgspec.Struct):
    """Today's WhatsApp messages to the user (each part of a long text counts) against the daily cap."""

    parts_today: int
    parts_cap: int
    # Set once the cap held a message back today: when the held messages start going out.
    capped_until: datetime | None


class UsageOut(msgspec.Struct):
    days: list[DayUsage]
    limits: UsageLimits
    credits: UsageCredits
    outbound: UsageOutbound


class MessageOut(msgspec.Struct):
    id: uuid.UUID
    direction: str
    kind: str
    body: str
    delivery_status: str | None
    created_at: datetime


class MessagesOut(msgspec.Struct):
    messages: list[MessageOut]
    # Pass as `before` for the next (older) page; null on the last page.
    next_before: uuid.UUID | None
