"""Outbound limits: when a message was handed to the assistant, the kind it asked for, the day's part cap

- inbound_messages.leased_at: an assistant's answer counts as a reply only shortly after the message it
  names was handed to it.
- outbox.requested_kind: what the assistant asked for beside what it was granted (`kind`), so an identical
  retry still matches.
- usage_daily.outbound_capped_at: when the daily cap on WhatsApp message parts first held a message back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("leased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("requested_kind", sa.String(length=16), nullable=True))
    op.create_check_constraint(
        op.f("ck_outbox_requested_kind"),
        "outbox",
        "requested_kind IS NULL OR requested_kind IN ('reply', 'proactive')",
    )
    op.add_column("usage_daily", sa.Column("outbound_capped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("usage_daily", "outbound_capped_at")
    op.drop_constraint(op.f("ck_outbox_requested_kind"), "outbox", type_="check")
    op.drop_column("outbox", "requested_kind")
    op.drop_column("inbound_messages", "leased_at")
