"""inbound_messages.button_payload: the id of a quick-reply button the user tapped (the template's "Show me")

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("button_payload", sa.String(length=256), nullable=True))


def downgrade() -> None:
    op.drop_column("inbound_messages", "button_payload")
