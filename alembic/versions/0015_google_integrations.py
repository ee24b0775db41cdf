"""connected Google services: integration status, OAuth states, the audit of tool calls

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "user_integrations",
        sa.Column("status", sa.String(length=20), server_default="connected", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_user_integrations_status"), "user_integrations", "status IN ('connected', 'needs_reconnect')"
    )
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("code_verifier_encrypted", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "service IN ('GOOGLE_CALENDAR', 'GOOGLE_GMAIL', 'GOOGLE_DRIVE')", name=op.f("ck_oauth_states_service")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oauth_states_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oauth_states")),
    )
    op.create_index(op.f("ix_oauth_states_user_id"), "oauth_states", ["user_id"])
    op.create_index(op.f("ix_oauth_states_expires_at"), "oauth_states", ["expires_at"])
    op.create_table(
        "integration_calls",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('ok', 'error', 'rate_limited', 'not_connected')", name=op.f("ck_integration_calls_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_integration_calls_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_calls")),
    )
    op.create_index("ix_integration_calls_user_id_created_at", "integration_calls", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_integration_calls_user_id_created_at", table_name="integration_calls")
    op.drop_table("integration_calls")
    op.drop_index(op.f("ix_oauth_states_expires_at"), table_name="oauth_states")
    op.drop_index(op.f("ix_oauth_states_user_id"), table_name="oauth_states")
    op.drop_table("oauth_states")
    op.drop_constraint(op.f("ck_user_integrations_status"), "user_integrations", type_="check")
    op.drop_column("user_integrations", "status")
