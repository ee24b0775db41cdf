"""assistant_events: what happened to a user's assistant that no other table keeps (model changes), for the
dashboard's recent activity

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('model_changed')", name=op.f("ck_assistant_events_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assistant_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_events")),
    )
    op.create_index("ix_assistant_events_user_id_created_at", "assistant_events", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_assistant_events_user_id_created_at", table_name="assistant_events")
    op.drop_table("assistant_events")
