"""Credit reservations (reserve the worst case before an LLM call, settle to the exact usage after) and the
LLM spend per day by model and purpose

`user_credits` gains what is reserved and how many reservations are open, so one `UPDATE ... WHERE` decides
a call atomically; each open reservation has a row, so one left behind by a process that died is found and
settled by the sweep. The callers' notification now fires only when the balance itself changes: a
reservation and its settlement would otherwise notify every API process twice per call.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = ("reply", "heartbeat", "cron", "memory", "other", "unsettled")


def upgrade() -> None:
    op.add_column("user_credits", sa.Column("reserved_millicents", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("user_credits", sa.Column("open_reservations", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint(
        op.f("ck_user_credits_reservations_nonnegative"),
        "user_credits",
        "reserved_millicents >= 0 AND open_reservations >= 0",
    )

    op.create_table(
        "credit_reservations",
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount_millicents", sa.BigInteger(), nullable=False),
        sa.Column("own_key", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_millicents >= 0", name=op.f("ck_credit_reservations_amount_nonnegative")),
    )
    op.create_index(op.f("ix_credit_reservations_expires_at"), "credit_reservations", ["expires_at"])
    op.create_index(op.f("ix_credit_reservations_user_id"), "credit_reservations", ["user_id"])

    quoted = ", ".join(f"'{p}'" for p in PURPOSES)
    op.create_table(
        "llm_spend_daily",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("own_key", sa.Boolean(), nullable=False),
        sa.Column("calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("server_tool_requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("millicents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"purpose IN ({quoted})", name=op.f("ck_llm_spend_daily_purpose")),
        sa.UniqueConstraint("user_id", "day", "model", "purpose", "own_key", name=op.f("uq_llm_spend_daily_user_id")),
    )

    # Only a change of the balance itself concerns the proxy's callers (migration 0005).
    op.execute("DROP TRIGGER user_credits_notify_llm_caller ON user_credits")
    op.execute(
        "CREATE TRIGGER user_credits_notify_llm_caller AFTER INSERT OR DELETE ON user_credits "
        "FOR EACH ROW EXECUTE FUNCTION notify_llm_caller()"
    )
    op.execute(
        "CREATE TRIGGER user_credits_balance_notify_llm_caller AFTER UPDATE ON user_credits FOR EACH ROW "
        "WHEN (OLD.total_millicents IS DISTINCT FROM NEW.total_millicents "
        "OR OLD.used_millicents IS DISTINCT FROM NEW.used_millicents) "
        "EXECUTE FUNCTION notify_llm_caller()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER user_credits_balance_notify_llm_caller ON user_credits")
    op.execute("DROP TRIGGER user_credits_notify_llm_caller ON user_credits")
    op.execute(
        "CREATE TRIGGER user_credits_notify_llm_caller AFTER INSERT OR UPDATE OR DELETE ON user_credits "
        "FOR EACH ROW EXECUTE FUNCTION notify_llm_caller()"
    )
    op.drop_table("llm_spend_daily")
    op.drop_table("credit_reservations")
    op.drop_constraint(op.f("ck_user_credits_reservations_nonnegative"), "user_credits")
    op.drop_column("user_credits", "open_reservations")
    op.drop_column("user_credits", "reserved_millicents")
