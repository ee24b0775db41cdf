"""service_usage_daily (web searches and transcribed audio per user and day) and their ledger reasons

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASONS = "reason IN ('GRANT', 'LLM_USAGE', 'RESET', 'ADJUSTMENT')"
NEW_REASONS = "reason IN ('GRANT', 'LLM_USAGE', 'RESET', 'ADJUSTMENT', 'SEARCH', 'TRANSCRIPTION')"


def upgrade() -> None:
    op.create_table(
        "service_usage_daily",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("units", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("millicents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("service IN ('search', 'transcription')", name=op.f("ck_service_usage_daily_service")),
        sa.CheckConstraint(
            "units >= 0 AND calls >= 0 AND millicents >= 0", name=op.f("ck_service_usage_daily_counts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_service_usage_daily_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_usage_daily")),
        sa.UniqueConstraint("user_id", "day", "service", name=op.f("uq_service_usage_daily_user_id")),
    )
    op.drop_constraint(op.f("ck_credit_ledger_reason"), "credit_ledger", type_="check")
    op.create_check_constraint(op.f("ck_credit_ledger_reason"), "credit_ledger", NEW_REASONS)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_credit_ledger_reason"), "credit_ledger", type_="check")
    # Kept, as adjustments: the balance they made stays explained.
    op.execute("UPDATE credit_ledger SET reason = 'ADJUSTMENT' WHERE reason IN ('SEARCH', 'TRANSCRIPTION')")
    op.create_check_constraint(op.f("ck_credit_ledger_reason"), "credit_ledger", OLD_REASONS)
    op.drop_table("service_usage_daily")
