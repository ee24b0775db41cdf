"""data_exports (a user's data, the workspace read off the volume by the reconciler), account_deletions
(deleted accounts: old sessions stay void, the fleet removes their containers and volumes), rollouts and
rollout_members (a new image in waves)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_tar", sa.LargeBinary(), nullable=True),
        sa.Column("workspace_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('PENDING', 'READY', 'FAILED')", name=op.f("ck_data_exports_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_data_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(op.f("ix_data_exports_user_id"), "data_exports", ["user_id"])
    op.create_index(
        "ix_data_exports_pending", "data_exports", ["requested_at"], postgresql_where=sa.text("status = 'PENDING'")
    )
    op.create_table(
        "account_deletions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("fleet_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_deletions")),
    )
    op.create_index(
        "ix_account_deletions_unpurged",
        "account_deletions",
        ["deleted_at"],
        postgresql_where=sa.text("fleet_purged_at IS NULL"),
    )


    op.create_table(
        "rollouts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("wave_percent", sa.Float(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'RUNNING'"), nullable=False),
        sa.Column("waves", sa.Integer(), nullable=False),
        sa.Column("waves_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('RUNNING', 'DONE', 'HALTED')", name=op.f("ck_rollouts_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_table(
        "rollout_members",
        sa.Column("rollout_id", sa.Uuid(), nullable=False),
        sa.Column("assistant_id", sa.Uuid(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("previous_image", sa.String(length=255), nullable=True),
        sa.Column("previous_container_id", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default=sa.text("'WAITING'"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('WAITING', 'MOVING', 'READY', 'FAILED', 'ROLLED_BACK')", name=op.f("ck_rollout_members_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name=op.f("fk_rollout_members_assistant_id_assistants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_rollout_members_rollout_id_rollouts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rollout_id", "assistant_id", name=op.f("pk_rollout_members")),
    )


def downgrade() -> None:
    op.drop_table("rollout_members")
    op.drop_table("rollouts")
    op.drop_index("ix_account_deletions_unpurged", table_name="account_deletions")
    op.drop_table("account_deletions")
    op.drop_index("ix_data_exports_pending", table_name="data_exports")
    op.drop_index(op.f("ix_data_exports_user_id"), table_name="data_exports")
    op.drop_table("data_exports")
