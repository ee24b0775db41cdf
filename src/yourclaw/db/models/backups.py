"""Backups of each user's volume in S3-compatible storage, and the operator's requests to restore one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, uuid_pk

RESTORE_STATUSES = ("PENDING", "DONE", "FAILED")


class VolumeBackup(Base):
    """One object in the backup bucket: the user's volume as a tar (without `openclaw.json`), taken by the
    reconciler through the Docker API. The row goes with the user (cascade); the objects are removed by the
    reconciler when the account is deleted (`account_deletions`), found by the user's key prefix."""

    __tablename__ = "volume_backups"
    __table_args__ = (Index("ix_volume_backups_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()


class BackupRestore(Base):
    """An operator's `yourclaw backups restore USER`: the reconciler writes the backup into a fresh volume
    while the user's container is stopped, then brings the assistant back on it."""

    __tablename__ = "backup_restores"
    __table_args__ = (
        CheckConstraint(status_check("status", RESTORE_STATUSES), name="status"),
        Index("ix_backup_restores_pending", "requested_at", postgresql_where=text("status = 'PENDING'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    backup_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("volume_backups.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
