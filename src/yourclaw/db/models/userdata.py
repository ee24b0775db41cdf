"""The user's own data: exports of it, and the deletions of accounts the fleet still has to finish."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, uuid_pk

EXPORT_STATUSES = ("PENDING", "READY", "FAILED")


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
