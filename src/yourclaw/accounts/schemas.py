"""Request and response shapes for sign-in and the user's phone."""

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
