"""volumes: moving an assistant to another host (the move's columns, phases moving and restoring), and the
backups of each user's volume (volume_backups, backup_restores)

Revision ID: 0016
Revises: 0017
Create Date: 2026-12-07 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHASES = (
    "'none', 'placing', 'creating', 'starting', 'connecting', 'ready', 'restarting', 'reconfiguring', "
    "'disconnected', 'crash_loop', 'unknown', 'deleting', 'failed'"
)


def upgrade() -> None:
    op.add_column("assistants", sa.Column("move_requested_at", sa.DateTime(timezone=True), nullable=True))
    for column in ("move_to_host_id", "moved_from_host_id"):
        op.add_column("assistants", sa.Column(column, sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_assistants_{column}_host_servers"),
            "assistants",
            "host_servers",
            [column],
            ["id"],
            ondelete="SET NULL",
        )
    op.drop_constraint(op.f("ck_assistants_phase"), "assistants", type_="check")
    op.create_check_constraint(
        op.f("ck_assistants_phase"), "assistants", f"phase IN ({PHASES}, 'moving', 'restoring')"
    )
    op.create_table(
        "volume_backups",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_volume_backups_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_backups")),
        sa.UniqueConstraint("object_key", name=op.f("uq_volume_backups_object_key")),
    )
    op.create_index("ix_volume_backups_user_id_created_at", "volume_backups", ["user_id", "created_at"])
    op.create_table(
        "backup_restores",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("backup_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('PENDING', 'DONE', 'FAILED')", name=op.f("ck_backup_restores_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_backup_restores_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["volume_backups.id"],
            name=op.f("fk_backup_restores_backup_id_volume_backups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_restores")),
    )
    op.create_index(op.f("ix_backup_restores_user_id"), "backup_restores", ["user_id"])
    op.create_index(
        "ix_backup_restores_pending",
        "backup_restores",
        ["requested_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_table("backup_restores")
    op.drop_table("volume_backups")
    op.drop_constraint(op.f("ck_assistants_phase"), "assistants", type_="check")
    op.create_check_constraint(op.f("ck_assistants_phase"), "assistants", f"phase IN ({PHASES})")
    for column in ("moved_from_host_id", "move_to_host_id"):
        op.drop_constraint(op.f(f"fk_assistants_{column}_host_servers"), "assistants", type_="foreignkey")
        op.drop_column("assistants", column)
    op.drop_column("assistants", "move_requested_at")
