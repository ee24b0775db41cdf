"""Messages (the audit log and the dashboard's view), the outbox, and daily usage counters."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

MESSAGE_DIRECTIONS = ("INBOUND", "OUTBOUND")
MESSAGE_KINDS = ("user", "reply", "proactive", "system")
OUTBOX_KINDS = ("reply", "proactive", "system")
OUTBOX_STATUSES = ("PENDING", "HELD", "SENDING", "SENT", "FAILED", "CANCELED")
INBOUND_STATUSES = ("RECEIVED", "QUEUED", "LEASED", "DONE", "REFUSED", "VERIFICATION")


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


class EarlyDeliveryStatus(Base):
    """A delivery status Twilio posted before the sender recorded the part's sid (its callback can beat the
    sender's commit); applied when the part is recorded. Holds no personal data: a sid and a status."""

    __tablename__ = "early_delivery_statuses"
    __table_args__ = (Index("ix_early_delivery_statuses_received_at", "received_at"),)

    twilio_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = created_at()


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
        # Replies to a number with no account yet (sign-up link, a wrong code) go out once per number.
        Index(
            "uq_outbox_to_phone_dedupe_key",
            "to_phone",
            "dedupe_key",
            unique=True,
            postgresql_where=text("user_id IS NULL AND dedupe_key IS NOT NULL"),
        ),
        # The assistant's Idempotency-Key: the same key stores one message, however often it is sent.
        Index(
            "uq_outbox_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        CheckConstraint("user_id IS NOT NULL OR to_phone IS NOT NULL", name="has_recipient"),
        CheckConstraint("requested_kind IS NULL OR requested_kind IN ('reply', 'proactive')", name="requested_kind"),
        CheckConstraint("parts_sent >= 0", name="parts_sent_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # NULL only for a number that has no account (yet): then `to_phone` says where it goes.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_phone: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    # What the assistant asked for (on the rows it posts); `kind` is what it was granted: a "reply" that
    # answers no message recently handed to it goes as proactive. An identical retry is compared with this.
    requested_kind: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64))
    template_vars: Mapped[dict | None] = mapped_column(JSONB)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    in_reply_to: Mapped[uuid.UUID | None]
    media_id: Mapped[uuid.UUID | None]
    # Parts already handed to Twilio (a long text goes out as several), so a retry never repeats one.
    parts_sent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    twilio_sids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'::varchar[]"))
    # Quiet hours: not before this time.
    not_before: Mapped[datetime | None]
    # Outside the 24-hour window the template went out at this time; the text waits for the user's reply.
    held_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class InboundMessage(Base):
    """A WhatsApp message as Twilio delivered it: stored before the webhook answers (unique on the
    MessageSid, so retries are harmless), then routed, then leased to the user's assistant until acked."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        CheckConstraint(status_check("status", INBOUND_STATUSES), name="status"),
        CheckConstraint("deliveries >= 0", name="deliveries_nonnegative"),
        Index("ix_inbound_messages_unrouted", "received_at", postgresql_where=text("status = 'RECEIVED'")),
        Index("ix_inbound_messages_user_id_received_at", "user_id", "received_at"),
        Index(
            "ix_inbound_messages_queue",
            "user_id",
            "received_at",
            postgresql_where=text("status IN ('QUEUED', 'LEASED')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # NULL while the sender is not a verified user (an unknown number, a "link <code>" message).
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    profile_name: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, server_default=text("''"))
    media: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # A quick-reply button's id when the message is a tap on one (Twilio's ButtonPayload).
    button_payload: Mapped[str | None] = mapped_column(String(256))
    received_at: Mapped[datetime] = created_at()
    status: Mapped[str] = mapped_column(String(16), server_default=text("'RECEIVED'"))
    detail: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    lease_instance: Mapped[str | None] = mapped_column(String(64))
    # The last hand-out to the assistant: its answers count as replies for a while after it.
    leased_at: Mapped[datetime | None]
    deliveries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    routed_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]


class Media(Base):
    """Bytes we serve through short-lived signed URLs: media the user sent (fetched from Twilio with our
    credentials, which never enter a container) and media the assistant sends (served to Twilio)."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint(status_check("source", ("inbound", "outbound")), name="source"),
        CheckConstraint("size >= 0", name="size_nonnegative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at()
    # Indexed for the retention sweep (`protocol.retention`).
    expires_at: Mapped[datetime] = mapped_column(index=True)


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
    # WhatsApp messages as Twilio sends and bills them: each part of a long text and each template is one.
    outbound_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Proactive messages (whole messages, not parts) that started going out.
    proactive_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    llm_millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # When the daily part cap first held a message back this day: the rest of the day's messages wait too.
    outbound_capped_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = updated_at()


LLM_PURPOSES = ("reply", "heartbeat", "cron", "memory", "other", "unsettled")


class LlmSpendDaily(Base):
    """What the LLM proxy's calls used per user, day, model and purpose (what made the assistant think),
    charged or on the user's own key; the dashboard's spend chart reads it."""

    __tablename__ = "llm_spend_daily"
    __table_args__ = (
        CheckConstraint(status_check("purpose", LLM_PURPOSES), name="purpose"),
        UniqueConstraint("user_id", "day", "model", "purpose", "own_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, server_default=text("CURRENT_DATE"))
    model: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(16))
    own_key: Mapped[bool] = mapped_column(Boolean)
    calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    server_tool_requests: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = updated_at()
