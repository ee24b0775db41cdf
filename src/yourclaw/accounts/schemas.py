"""Request and response shapes for sign-in and the user's profile."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class DevLoginInput(msgspec.Struct):
    email: str


class DevLoginOutput(msgspec.Struct):
    access_token: str
    token_type: str
    user_id: uuid.UUID
    expires_in: int


class PhoneInput(msgspec.Struct):
    phone: str
    timezone: str | None = None


class PendingVerification(msgspec.Struct):
    code: str
    message: str
    link: str
    expires_at: datetime


class PhoneOut(msgspec.Struct):
    phone: str
    verified: bool
    verified_at: datetime | None = None
    verification: PendingVerification | None = None


class SubscriptionSummary(msgspec.Struct):
    status: str
    current_period_end: datetime | None


class AssistantSummary(msgspec.Struct):
    status: str
    phase: str
    model: str


class CreditsSummary(msgspec.Struct):
    remaining_cents: int
    total_cents: int
    own_key: bool


class ProfileOut(msgspec.Struct):
    id: uuid.UUID
    email: str | None
    timezone: str | None
    phone: PhoneOut | None
    subscription: SubscriptionSummary | None
    assistant: AssistantSummary | None
    credits: CreditsSummary
    created_at: datetime


class ProfileUpdate(msgspec.Struct):
    timezone: str | None = None
