"""assistants.workspace_bytes, workspace_limit_bytes, workspace_measured_at: the volume's use, as its host reports it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("assistants", sa.Column("workspace_bytes", sa.BigInteger(), nullable=True))
    op.add_column("assistants", sa.Column("workspace_limit_bytes", sa.BigInteger(), nullable=True))
    op.add_column("assistants", sa.Column("workspace_measured_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("assistants", "workspace_measured_at")
    op.drop_column("assistants", "workspace_limit_bytes")
    op.drop_column("assistants", "workspace_bytes")
