"""early_delivery_statuses: a delivery status Twilio posted before the sender recorded the part's sid, applied
when it is

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-07 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_delivery_statuses",
        sa.Column("twilio_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("twilio_sid", name=op.f("pk_early_delivery_statuses")),
    )
    op.create_index("ix_early_delivery_statuses_received_at", "early_delivery_statuses", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_early_delivery_statuses_received_at", table_name="early_delivery_statuses")
    op.drop_table("early_delivery_statuses")
