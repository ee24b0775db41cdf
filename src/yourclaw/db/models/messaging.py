"""Messages (the audit log and the dashboard's view), the outbox, and daily usage counters."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

MESSAGE_DIRECTIONS = ("INBOUND", "OUTBOUND")
MESSAGE_KINDS = ("user", "reply", "proactive", "system")
OUTBOX_KINDS = ("reply", "proactive", "system")
OUTBOX_STATUSES = ("PENDING", "HELD", "SENDING", "SENT", "FAILED", "CANCELED")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(status_check("direction", MESSAGE_DIRECTIONS), name="direction"),
        CheckConstraint(status_check("kind", MESSAGE_KINDS), name="kind"),
        Index("ix_messages_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'user'"))
    body: Mapped[str] = mapped_column(Text)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at()


class Outbox(Base):
    """Every outgoing WhatsApp message goes through here, in order per user. The sender, not the
    caller, decides free-form or template from the 24-hour window."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(status_check("kind", OUTBOX_KINDS), name="kind"),
        CheckConstraint(status_check("status", OUTBOX_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        # A notice asked for from many places goes out once.
        Index(
            "uq_outbox_user_id_dedupe_key",
            "user_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
        Index("ix_outbox_pending", "user_id", "id", postgresql_where=text("status IN ('PENDING', 'SENDING')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64))
    template_vars: Mapped[dict | None] = mapped_column(JSONB)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class UsageDaily(Base):
    __tablename__ = "usage_daily"
    __table_args__ = (
        CheckConstraint("inbound_count >= 0 AND outbound_count >= 0 AND proactive_count >= 0", name="counts"),
        UniqueConstraint("user_id", "day"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, server_default=text("CURRENT_DATE"))
    inbound_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    outbound_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    proactive_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    llm_millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = updated_at()
