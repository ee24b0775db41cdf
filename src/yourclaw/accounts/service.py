"""Profile and phone onboarding. Stateless: takes the session, never commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.accounts import phones
from yourclaw.accounts import repository as repo
from yourclaw.accounts.schemas import (
    AssistantSummary,
    CreditsSummary,
    PendingVerification,
    PhoneOut,
    ProfileOut,
    SubscriptionSummary,
)
from yourclaw.credits import ledger as credits
from yourclaw.db.models import Assistant, Subscription, User, UserPhone
from yourclaw.kit.errors import Conflict, Unprocessable
from yourclaw.kit.settings import Settings


def validate_timezone(name: str | None) -> str | None:
    if name is None or name == "":
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(
            f"Unknown time zone {name!r}; use an IANA name such as Europe/Paris", code="INVALID_TIMEZONE"
        ) from None
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
        raise Conflict("This WhatsApp number is already linked to another account", code="PHONE_TAKEN")
    expires = datetime.now(UTC) + timedelta(minutes=settings.phone_code_ttl_minutes)
    phone = await repo.set_pending_phone(session, user.id, e164, phones.new_code(), expires)
    return phone_out(phone, settings)


async def profile(session: AsyncSession, settings: Settings, user: User) -> ProfileOut:
    phone = await repo.get_phone(session, user.id)
    sub = await session.scalar(select(Subscription).where(Subscription.user_id == user.id))
    assistant = await session.scalar(select(Assistant).where(Assistant.user_id == user.id, Assistant.wanted.is_(True)))
    decision = await credits.spend_decision(session, user.id)
    current = await credits.balance(session, user.id)
    return ProfileOut(
        id=user.id,
        email=user.email,
        timezone=user.timezone,
        phone=phone_out(phone, settings) if phone else None,
        subscription=SubscriptionSummary(sub.status, sub.current_period_end) if sub else None,
        assistant=AssistantSummary(assistant.status, assistant.phase, assistant.model) if assistant else None,
        credits=CreditsSummary(
            remaining_cents=current.remaining_cents, total_cents=current.total_cents, own_key=decision.own_key
        ),
        created_at=user.created_at,
    )


def dev_user_id(email: str) -> uuid.UUID:
    """Signing in twice with one address is one user, as with a real identity provider."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "yourclaw-dev:" + email.strip().lower())
