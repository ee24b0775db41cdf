"""Subscriptions, the credits ledger (integer millicents), and users' own LLM keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

SUBSCRIPTION_STATUSES = ("ACTIVE", "PAST_DUE", "CANCELED", "INCOMPLETE", "PAUSED")
LEDGER_REASONS = ("GRANT", "LLM_USAGE", "RESET", "ADJUSTMENT", "SEARCH", "TRANSCRIPTION")
KEY_PROVIDERS = ("ANTHROPIC",)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (CheckConstraint(status_check("status", SUBSCRIPTION_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(100))
    stripe_subscription_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), server_default=text("'ACTIVE'"))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # First seen ACTIVE: the assistant is wanted once, at that moment, and never again on a renewal.
    activated_at: Mapped[datetime | None]
    # Start of the grace period in which an unpaid subscription still runs the assistant.
    past_due_since: Mapped[datetime | None]
    # Billing (not the user) stopped the assistant; paying again brings it back.
    suspended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class BillingCustomer(Base):
    """The user's one Stripe customer, kept from the first checkout on (before any subscription exists),
    so every later checkout and the portal reuse it."""

    __tablename__ = "billing_customers"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = created_at()


class StripeEvent(Base):
    """Each Stripe event applied, by id: a redelivery finds its row and does nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()


class UserCredits(Base):
    """The balance, kept beside the ledger so spending is one `UPDATE ... RETURNING`.
    Millicents (1/1000 of a cent) are fine enough for one small LLM call; users see cents."""

    __tablename__ = "user_credits"
    __table_args__ = (
        CheckConstraint("total_millicents >= 0 AND used_millicents >= 0", name="nonnegative"),
        CheckConstraint("reserved_millicents >= 0 AND open_reservations >= 0", name="reservations_nonnegative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    total_millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    used_millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Held by calls in flight (their worst case) until each settles; spendable = total - used - reserved.
    reserved_millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    open_reservations: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class CreditLedgerEntry(Base):
    """Every change of a balance, with a reference that makes it idempotent (a Stripe invoice id,
    an LLM request id)."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint(status_check("reason", LEDGER_REASONS), name="reason"),
        UniqueConstraint("user_id", "reference"),
        Index("ix_credit_ledger_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delta_millicents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()


class CreditReservation(Base):
    """A call in flight and the most it may cost, held against the balance until the call settles. A row
    past `expires_at` belongs to a process that died (live ones are renewed): the sweep settles it."""

    __tablename__ = "credit_reservations"
    __table_args__ = (CheckConstraint("amount_millicents >= 0", name="amount_nonnegative"),)

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    amount_millicents: Mapped[int] = mapped_column(BigInteger)
    own_key: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiKey(Base):
    """A user's own LLM key (BYOK), encrypted at rest; only its last characters are ever shown."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(status_check("provider", KEY_PROVIDERS), name="provider"),
        UniqueConstraint("user_id", "provider"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20), server_default=text("'ANTHROPIC'"))
    encrypted_key: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
