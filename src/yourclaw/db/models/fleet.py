"""Rollouts of a new assistant image across the fleet, in waves, and each assistant's part in one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, uuid_pk

ROLLOUT_STATUSES = ("RUNNING", "DONE", "HALTED")
MEMBER_OUTCOMES = ("WAITING", "MOVING", "READY", "FAILED", "ROLLED_BACK")


class Rollout(Base):
    __tablename__ = "rollouts"
    __table_args__ = (CheckConstraint(status_check("status", ROLLOUT_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    image: Mapped[str] = mapped_column(String(255))
    wave_percent: Mapped[float] = mapped_column(Float)
    failure_threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'RUNNING'"))
    waves: Mapped[int] = mapped_column(Integer)
    waves_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]


class RolloutMember(Base):
    """One assistant in a rollout: its wave, and what to go back to (NULL image: ASSISTANT_IMAGE)."""

    __tablename__ = "rollout_members"
    __table_args__ = (CheckConstraint(status_check("outcome", MEMBER_OUTCOMES), name="outcome"),)

    rollout_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    previous_image: Mapped[str | None] = mapped_column(String(255))
    previous_container_id: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16), server_default=text("'WAITING'"))
    reason: Mapped[str | None] = mapped_column(Text)
