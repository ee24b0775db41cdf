"""memory_requests (what the assistant remembers, read or forgotten on the volume by the reconciler)

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_requests",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("files_total", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("action IN ('READ', 'FORGET')", name=op.f("ck_memory_requests_action")),
        sa.CheckConstraint("status IN ('PENDING', 'DONE', 'FAILED')", name=op.f("ck_memory_requests_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memory_requests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_requests")),
    )
    op.create_index(op.f("ix_memory_requests_user_id"), "memory_requests", ["user_id"])
    op.create_index(
        "ix_memory_requests_pending", "memory_requests", ["requested_at"], postgresql_where=sa.text("status = 'PENDING'")
    )


def downgrade() -> None:
    op.drop_index("ix_memory_requests_pending", table_name="memory_requests")
    op.drop_index(op.f("ix_memory_requests_user_id"), table_name="memory_requests")
    op.drop_table("memory_requests")
