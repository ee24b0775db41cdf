"""billing customers, stripe events and the subscription lifecycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:55:17.283538
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "billing_customers",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_billing_customers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_billing_customers")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_billing_customers_stripe_customer_id")),
    )
    op.add_column("subscriptions", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("subscriptions", sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("subscriptions", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    # Autogenerate does not compare CHECK constraints: PAUSED is added by hand.
    op.drop_constraint(op.f("ck_subscriptions_status"), "subscriptions", type_="check")
    op.create_check_constraint(
        op.f("ck_subscriptions_status"),
        "subscriptions",
        "status IN ('ACTIVE', 'PAST_DUE', 'CANCELED', 'INCOMPLETE', 'PAUSED')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_subscriptions_status"), "subscriptions", type_="check")
    op.execute("UPDATE subscriptions SET status = 'CANCELED' WHERE status = 'PAUSED'")
    op.create_check_constraint(
        op.f("ck_subscriptions_status"), "subscriptions", "status IN ('ACTIVE', 'PAST_DUE', 'CANCELED', 'INCOMPLETE')"
    )
    op.drop_column("subscriptions", "suspended_at")
    op.drop_column("subscriptions", "past_due_since")
    op.drop_column("subscriptions", "activated_at")
    op.drop_table("billing_customers")
    op.drop_table("stripe_events")
