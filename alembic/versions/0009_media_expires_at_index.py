"""media.expires_at indexed: the retention sweep deletes media past it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_media_expires_at"), "media", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_media_expires_at"), table_name="media")
