"""Connected services (Google Calendar, Gmail, Drive) whose tokens feed the assistant's MCP servers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

INTEGRATION_SERVICES = ("GOOGLE_CALENDAR", "GOOGLE_GMAIL", "GOOGLE_DRIVE")


class UserIntegration(Base):
    __tablename__ = "user_integrations"
    __table_args__ = (
        CheckConstraint(status_check("service", INTEGRATION_SERVICES), name="service"),
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
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
