"""Connected services (Google Calendar, Gmail, Drive): their tokens, the OAuth flows under way, and the audit
of every tool call the assistant made through our MCP server."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

INTEGRATION_SERVICES = ("GOOGLE_CALENDAR", "GOOGLE_GMAIL", "GOOGLE_DRIVE")
INTEGRATION_STATUSES = ("connected", "needs_reconnect")
TOOL_OUTCOMES = ("ok", "error", "rate_limited", "not_connected")


class UserIntegration(Base):
    __tablename__ = "user_integrations"
    __table_args__ = (
        CheckConstraint(status_check("service", INTEGRATION_SERVICES), name="service"),
        CheckConstraint(status_check("status", INTEGRATION_STATUSES), name="status"),
        UniqueConstraint("user_id", "service"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(50))
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    email: Mapped[str | None] = mapped_column(String(320))
    # "needs_reconnect" once Google refused the refresh token (invalid_grant): the tools are gone until the
    # user connects again.
    status: Mapped[str] = mapped_column(String(20), server_default="connected")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class OAuthState(Base):
    """One consent under way: `state` (stored as its hash) is bound to the user who asked, used once, and
    expires; the PKCE verifier stays here, encrypted, until the callback redeems the code."""

    __tablename__ = "oauth_states"
    __table_args__ = (CheckConstraint(status_check("service", INTEGRATION_SERVICES), name="service"),)

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(50))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class IntegrationCall(Base):
    """One tool call through the MCP server: who, which tool, how it ended and how long it took. Never its
    arguments or its answer (they are the user's mail and calendar)."""

    __tablename__ = "integration_calls"
    __table_args__ = (
        CheckConstraint(status_check("outcome", TOOL_OUTCOMES), name="outcome"),
        Index("ix_integration_calls_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(50))
    tool: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
