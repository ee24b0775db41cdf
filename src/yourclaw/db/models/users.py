"""Users (our mirror of the identity provider's user) and their WhatsApp numbers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, updated_at, uuid_pk

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class User(Base):
    __tablename__ = "users"

    # The identity provider's `sub`: a sign-in never needs a lookup table.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Browser sessions issued before this are void (sign-out; the cookie itself is stateless).
    sessions_revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class UserPhone(Base):
    """One WhatsApp number per user; it only routes once the user proved it by writing from it."""

    __tablename__ = "user_phones"
    __table_args__ = (
        CheckConstraint(f"phone_e164 ~ '{E164_PATTERN}'", name="e164"),
        CheckConstraint(
            "verified_at IS NOT NULL OR (verification_code IS NOT NULL AND code_expires_at IS NOT NULL)",
            name="pending_has_code",
        ),
        # Unique among verified numbers only: nobody can squat a number without proving it.
        Index(
            "uq_user_phones_verified_phone",
            "phone_e164",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
        Index("ix_user_phones_phone_e164", "phone_e164"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    verified_at: Mapped[datetime | None]
    verification_code: Mapped[str | None] = mapped_column(String(16))
    code_expires_at: Mapped[datetime | None]
    # Opens WhatsApp's 24-hour customer-service window; written by the inbound webhook.
    last_inbound_at: Mapped[datetime | None]
    # STOP silences proactive and template messages until START.
    opted_out_at: Mapped[datetime | None]
    profile_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PhoneAttempts(Base):
    """How often a user submitted a WhatsApp number in the current window: an answer to one says whether
    the number is someone else's (409 PHONE_TAKEN), so the answers are rationed per user."""

    __tablename__ = "phone_attempts"
    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts_nonnegative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    window_started_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)
