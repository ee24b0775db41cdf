"""The user's own data: exports of it, what their assistant remembers (read or forgotten on request), and the
deletions of accounts the fleet still has to finish."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, uuid_pk

EXPORT_STATUSES = ("PENDING", "READY", "FAILED")
MEMORY_ACTIONS = ("READ", "FORGET")
MEMORY_STATUSES = ("PENDING", "DONE", "FAILED")


class DataExport(Base):
    """A user's request for their data. The API writes it; the reconciler, which alone talks to the Docker hosts,
    reads the assistant's workspace off its volume into `workspace_tar`; the API then answers with the zip."""

    __tablename__ = "data_exports"
    __table_args__ = (
        CheckConstraint(status_check("status", EXPORT_STATUSES), name="status"),
        Index("ix_data_exports_pending", "requested_at", postgresql_where=text("status = 'PENDING'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    requested_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
    # The workspace as a tar read through the Docker API; NULL when the user never had a volume.
    workspace_tar: Mapped[bytes | None] = mapped_column(LargeBinary)
    workspace_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class MemoryRequest(Base):
    """A user's ask about their assistant's memory files: read them (READ) or delete one, or all when `path` is
    NULL (FORGET). The API writes it; the reconciler, which alone talks to the Docker hosts, does it on the
    volume and then reads the files as they are into `files` (the snapshot the dashboard shows, its newest done
    row; older ones are deleted as a newer one is done)."""

    __tablename__ = "memory_requests"
    __table_args__ = (
        CheckConstraint(status_check("action", MEMORY_ACTIONS), name="action"),
        CheckConstraint(status_check("status", MEMORY_STATUSES), name="status"),
        Index("ix_memory_requests_pending", "requested_at", postgresql_where=text("status = 'PENDING'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(Text)  # under the workspace, e.g. "memory/2026-12-07.md"
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    requested_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
    # [{"path", "text", "bytes", "truncated"}], newest first after MEMORY.md; NULL until done.
    files: Mapped[list | None] = mapped_column(JSONB)
    files_total: Mapped[int | None] = mapped_column(Integer)  # memory files on the volume, listed or not
    error: Mapped[str | None] = mapped_column(Text)


class AccountDeletion(Base):
    """An account deleted at the user's request: no foreign key, since the user row is gone. It holds only the
    id (the sign-in provider's opaque subject), so that sessions issued before the deletion stay void if the
    same person signs up again, and so that the reconciler removes the containers and volumes labelled
    with it on every host (`fleet_purged_at` once done)."""

    __tablename__ = "account_deletions"
    __table_args__ = (
        Index("ix_account_deletions_unpurged", "deleted_at", postgresql_where=text("fleet_purged_at IS NULL")),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deleted_at: Mapped[datetime] = created_at()
    fleet_purged_at: Mapped[datetime | None]
