"""warm pool: a per-host pool size, and which volume a user's data lives in (one from the pool)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("host_servers", sa.Column("warm_pool", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_host_servers_warm_pool_nonnegative"), "host_servers", "warm_pool IS NULL OR warm_pool >= 0"
    )
    op.add_column("assistants", sa.Column("volume", sa.String(length=100), nullable=True))
    op.add_column("assistants", sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_assistants_container_id", "assistants", ["container_id"], unique=True)
    op.create_index("uq_assistants_volume", "assistants", ["volume"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_assistants_volume", table_name="assistants")
    op.drop_index("uq_assistants_container_id", table_name="assistants")
    op.drop_column("assistants", "handed_off_at")
    op.drop_column("assistants", "volume")
    op.drop_constraint(op.f("ck_host_servers_warm_pool_nonnegative"), "host_servers", type_="check")
    op.drop_column("host_servers", "warm_pool")
