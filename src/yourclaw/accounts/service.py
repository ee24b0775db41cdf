"""Phone onboarding and the account's own settings. Stateless: takes the session, never commits."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.accounts import phones
from yourclaw.accounts import repository as repo
from yourclaw.accounts.errors import InvalidTimezone, PhoneAttemptsLimited, PhoneTaken
from yourclaw.accounts.schemas import PendingVerification, PhoneOut
from yourclaw.db.models import User, UserPhone
from yourclaw.kit.settings import Settings


def validate_timezone(name: str | None) -> str | None:
    if name is None or name == "":
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"Unknown time zone {name!r}; use an IANA name such as Europe/Paris") from None
    return name


def phone_out(phone: UserPhone, settings: Settings, *, now: datetime | None = None) -> PhoneOut:
    now = now or datetime.now(UTC)
    pending = None
    if phone.verified_at is None and phone.verification_code and phone.code_expires_at and phone.code_expires_at > now:
        pending = PendingVerification(
            code=phone.verification_code,
            message=phones.link_message(phone.verification_code),
            link=phones.wa_me_link(settings.twilio_whatsapp_number, phone.verification_code),
            expires_at=phone.code_expires_at,
        )
    return PhoneOut(
        phone=phone.phone_e164,
        verified=phone.verified_at is not None,
        verified_at=phone.verified_at,
        verification=pending,
    )


async def set_phone(
    session: AsyncSession, settings: Settings, user: User, raw_phone: str, timezone: str | None
) -> PhoneOut:
    e164 = phones.normalize_e164(raw_phone)
    tz = validate_timezone(timezone)
    if tz is not None:
        await repo.set_timezone(session, user.id, tz)
    current = await repo.get_phone(session, user.id)
    if current is not None and current.phone_e164 == e164 and current.verified_at is not None:
        return phone_out(current, settings)
    owner = await repo.verified_owner_of(session, e164)
    if owner is not None and owner != user.id:
        raise PhoneTaken("This WhatsApp number is already linked to another account")
    expires = datetime.now(UTC) + timedelta(minutes=settings.phone_code_ttl_minutes)
    phone = await repo.set_pending_phone(session, user.id, e164, phones.new_code(), expires)
    return phone_out(phone, settings)


PHONE_ATTEMPT_WINDOW = timedelta(hours=1)


async def count_phone_attempt(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> None:
    """Counts a number submission, refused past PHONE_ATTEMPTS_PER_HOUR: each answer says whether a number
    is linked to someone else's account, so trying numbers one after another is how phones are enumerated."""
    attempts, started = await repo.count_phone_attempt(session, user_id, PHONE_ATTEMPT_WINDOW)
    if attempts > settings.phone_attempts_per_hour:
        wait = started + PHONE_ATTEMPT_WINDOW - datetime.now(UTC)
        seconds = max(1, math.ceil(wait.total_seconds()))
        minutes = -(-seconds // 60)
        raise PhoneAttemptsLimited(
            f"You entered a number {settings.phone_attempts_per_hour} times in the last hour; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}",
            retry_after=seconds,
        )


def dev_user_id(email: str) -> uuid.UUID:
    """Signing in twice with one address is one user, as with a real identity provider."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "yourclaw-dev:" + email.strip().lower())
