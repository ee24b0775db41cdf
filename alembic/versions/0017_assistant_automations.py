"""assistant_automations: the reminders and watchers a user's assistant set up, as its plugin reports them;
assistant_events learns `automation_set`, with the automation's kind and next run

Revision ID: 0017
Revises: 0018
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_automations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("automation_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('one_time', 'recurring', 'watcher')", name=op.f("ck_assistant_automations_kind")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assistant_automations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "automation_id", name=op.f("pk_assistant_automations")),
    )
    op.add_column("assistant_events", sa.Column("automation_kind", sa.String(length=16), nullable=True))
    op.add_column("assistant_events", sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_assistant_events_kind"), "assistant_events", type_="check")
    op.create_check_constraint(
        op.f("ck_assistant_events_kind"), "assistant_events", "kind IN ('model_changed', 'automation_set')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM assistant_events WHERE kind = 'automation_set'")
    op.drop_constraint(op.f("ck_assistant_events_kind"), "assistant_events", type_="check")
    op.create_check_constraint(op.f("ck_assistant_events_kind"), "assistant_events", "kind IN ('model_changed')")
    op.drop_column("assistant_events", "next_run_at")
    op.drop_column("assistant_events", "automation_kind")
    op.drop_table("assistant_automations")
