"""inbound queue media and outbox delivery

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 16:45:30.817749
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=False),
        sa.Column("wa_id", sa.String(length=32), nullable=True),
        sa.Column("profile_name", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "media", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'RECEIVED'"), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_instance", sa.String(length=64), nullable=True),
        sa.Column("deliveries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('RECEIVED', 'QUEUED', 'LEASED', 'DONE', 'REFUSED', 'VERIFICATION')",
            name=op.f("ck_inbound_messages_status"),
        ),
        sa.CheckConstraint("deliveries >= 0", name=op.f("ck_inbound_messages_deliveries_nonnegative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_inbound_messages_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_messages_message_sid")),
    )
    op.create_index(
        "ix_inbound_messages_queue",
        "inbound_messages",
        ["user_id", "received_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('QUEUED', 'LEASED')"),
    )
    op.create_index(
        "ix_inbound_messages_unrouted",
        "inbound_messages",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("status = 'RECEIVED'"),
    )
    op.create_index(
        "ix_inbound_messages_user_id_received_at", "inbound_messages", ["user_id", "received_at"], unique=False
    )
    op.create_table(
        "media",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('inbound', 'outbound')", name=op.f("ck_media_source")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_media_size_nonnegative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_media_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_index(op.f("ix_media_user_id"), "media", ["user_id"], unique=False)
    op.add_column("outbox", sa.Column("to_phone", sa.String(length=20), nullable=True))
    op.add_column("outbox", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.add_column("outbox", sa.Column("in_reply_to", sa.UUID(), nullable=True))
    op.add_column("outbox", sa.Column("media_id", sa.UUID(), nullable=True))
    op.add_column("outbox", sa.Column("parts_sent", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column(
        "outbox",
        sa.Column(
            "twilio_sids",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    op.add_column("outbox", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("outbox", "user_id", existing_type=sa.UUID(), nullable=True)
    op.create_index(
        "uq_outbox_to_phone_dedupe_key",
        "outbox",
        ["to_phone", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("user_id IS NULL AND dedupe_key IS NOT NULL"),
    )
    op.create_index(
        "uq_outbox_user_id_idempotency_key",
        "outbox",
        ["user_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_outbox_user_id_idempotency_key",
        table_name="outbox",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index(
        "uq_outbox_to_phone_dedupe_key",
        table_name="outbox",
        postgresql_where=sa.text("user_id IS NULL AND dedupe_key IS NOT NULL"),
    )
    op.alter_column("outbox", "user_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("outbox", "held_since")
    op.drop_column("outbox", "not_before")
    op.drop_column("outbox", "twilio_sids")
    op.drop_column("outbox", "parts_sent")
    op.drop_column("outbox", "media_id")
    op.drop_column("outbox", "in_reply_to")
    op.drop_column("outbox", "idempotency_key")
    op.drop_column("outbox", "to_phone")
    op.drop_index(op.f("ix_media_user_id"), table_name="media")
    op.drop_table("media")
    op.drop_index("ix_inbound_messages_user_id_received_at", table_name="inbound_messages")
    op.drop_index(
        "ix_inbound_messages_unrouted", table_name="inbound_messages", postgresql_where=sa.text("status = 'RECEIVED'")
    )
    op.drop_index(
        "ix_inbound_messages_queue",
        table_name="inbound_messages",
        postgresql_where=sa.text("status IN ('QUEUED', 'LEASED')"),
    )
    op.drop_table("inbound_messages")
