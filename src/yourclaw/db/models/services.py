"""What the outside services the control plane runs for assistants (web search, voice-note transcription) were
used for, per user and day: the daily caps count here, and the usage view reads it."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, status_check, updated_at

SERVICES = ("search", "transcription")


class ServiceUsageDaily(Base):
    __tablename__ = "service_usage_daily"
    __table_args__ = (
        CheckConstraint(status_check("service", SERVICES), name="service"),
        CheckConstraint("units >= 0 AND calls >= 0 AND millicents >= 0", name="counts"),
        UniqueConstraint("user_id", "day", "service"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, server_default=text("CURRENT_DATE"))
    service: Mapped[str] = mapped_column(String(16))
    calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # What the daily cap counts: queries for search, seconds of audio for transcription.
    units: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    millicents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = updated_at()
