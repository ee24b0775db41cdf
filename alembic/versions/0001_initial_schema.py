"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:20:51.083882
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_servers",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("docker_url", sa.String(length=255), nullable=False),
        sa.Column("max_containers", sa.Integer(), server_default=sa.text("20"), nullable=False),
        sa.Column("draining", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("reachable", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("runtime_api_url", sa.String(length=255), nullable=True),
        sa.Column("engine_version", sa.String(length=32), nullable=True),
        sa.Column("api_version", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("docker_url LIKE 'tcp://%'", name=op.f("ck_host_servers_docker_url_tcp")),
        sa.CheckConstraint("max_containers >= 0", name=op.f("ck_host_servers_max_containers_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_servers")),
        sa.UniqueConstraint("docker_url", name=op.f("uq_host_servers_docker_url")),
        sa.UniqueConstraint("name", name=op.f("uq_host_servers_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=20), server_default=sa.text("'ANTHROPIC'"), nullable=False),
        sa.Column("encrypted_key", sa.Text(), nullable=False),
        sa.Column("key_hint", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("provider IN ('ANTHROPIC')", name=op.f("ck_api_keys_provider")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_api_keys_user_id")),
    )
    op.create_table(
        "assistants",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("wanted", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=True),
        sa.Column("desired_generation", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("recreate_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'NONE'"), nullable=False),
        sa.Column("phase", sa.String(length=20), server_default=sa.text("'none'"), nullable=False),
        sa.Column("host_server_id", sa.UUID(), nullable=True),
        sa.Column("container_id", sa.String(length=100), nullable=True),
        sa.Column("container_spec_hash", sa.String(length=64), nullable=True),
        sa.Column("config_hash", sa.String(length=64), nullable=True),
        sa.Column("observed_generation", sa.BigInteger(), nullable=True),
        sa.Column("written_generation", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("restart_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("phase_reason", sa.Text(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_generation", sa.BigInteger(), nullable=True),
        sa.Column("instance_id", sa.String(length=64), nullable=True),
        sa.Column(
            "superseded_instance_ids",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "phase IN ('none', 'placing', 'creating', 'starting', 'connecting', 'ready', 'restarting', 'reconfiguring', 'disconnected', 'crash_loop', 'unknown', 'deleting', 'failed')",
            name=op.f("ck_assistants_phase"),
        ),
        sa.CheckConstraint("status IN ('NONE', 'PROVISIONING', 'READY', 'ERROR')", name=op.f("ck_assistants_status")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_assistants_attempts_nonnegative")),
        sa.CheckConstraint("desired_generation >= 1", name=op.f("ck_assistants_generation_positive")),
        sa.ForeignKeyConstraint(
            ["host_server_id"],
            ["host_servers.id"],
            name=op.f("fk_assistants_host_server_id_host_servers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assistants_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistants")),
        sa.UniqueConstraint("user_id", name=op.f("uq_assistants_user_id")),
    )
    op.create_index("ix_assistants_host_server_id", "assistants", ["host_server_id"], unique=False)
    op.create_table(
        "credit_ledger",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("delta_millicents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reason IN ('GRANT', 'LLM_USAGE', 'RESET', 'ADJUSTMENT')", name=op.f("ck_credit_ledger_reason")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_ledger_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger")),
        sa.UniqueConstraint("user_id", "reference", name=op.f("uq_credit_ledger_user_id")),
    )
    op.create_index("ix_credit_ledger_user_id_created_at", "credit_ledger", ["user_id", "created_at"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default=sa.text("'user'"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("twilio_sid", sa.String(length=64), nullable=True),
        sa.Column("delivery_status", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("direction IN ('INBOUND', 'OUTBOUND')", name=op.f("ck_messages_direction")),
        sa.CheckConstraint("kind IN ('user', 'reply', 'proactive', 'system')", name=op.f("ck_messages_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_messages_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("twilio_sid", name=op.f("uq_messages_twilio_sid")),
    )
    op.create_index("ix_messages_user_id_created_at", "messages", ["user_id", "created_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("template_vars", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('reply', 'proactive', 'system')", name=op.f("ck_outbox_kind")),
        sa.CheckConstraint(
            "status IN ('PENDING', 'HELD', 'SENDING', 'SENT', 'FAILED', 'CANCELED')", name=op.f("ck_outbox_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts_nonnegative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_outbox_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["user_id", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('PENDING', 'SENDING')"),
    )
    op.create_index(
        "uq_outbox_user_id_dedupe_key",
        "outbox",
        ["user_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'ACTIVE'"), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'PAST_DUE', 'CANCELED', 'INCOMPLETE')", name=op.f("ck_subscriptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_subscriptions_user_id")),
    )
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
        sa.Column("inbound_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("outbound_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("proactive_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("llm_millicents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "inbound_count >= 0 AND outbound_count >= 0 AND proactive_count >= 0", name=op.f("ck_usage_daily_counts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_daily_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_daily")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_usage_daily_user_id")),
    )
    op.create_table(
        "user_credits",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("total_millicents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("used_millicents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("total_millicents >= 0 AND used_millicents >= 0", name=op.f("ck_user_credits_nonnegative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_credits_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_credits")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_credits_user_id")),
    )
    op.create_table(
        "user_integrations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "service IN ('GOOGLE_CALENDAR', 'GOOGLE_GMAIL', 'GOOGLE_DRIVE')", name=op.f("ck_user_integrations_service")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_integrations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_integrations")),
        sa.UniqueConstraint("user_id", "service", name=op.f("uq_user_integrations_user_id")),
    )
    op.create_table(
        "user_phones",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_code", sa.String(length=16), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("profile_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f("ck_user_phones_e164")),
        sa.CheckConstraint(
            "verified_at IS NOT NULL OR (verification_code IS NOT NULL AND code_expires_at IS NOT NULL)",
            name=op.f("ck_user_phones_pending_has_code"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_phones_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_phones")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_phones_user_id")),
    )
    op.create_index("ix_user_phones_phone_e164", "user_phones", ["phone_e164"], unique=False)
    op.create_index(
        "uq_user_phones_verified_phone",
        "user_phones",
        ["phone_e164"],
        unique=True,
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )
    op.create_table(
        "assistant_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("assistant_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("current", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name=op.f("fk_assistant_tokens_assistant_id_assistants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assistant_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_assistant_tokens_token_hash")),
    )
    op.create_index("ix_assistant_tokens_user_id", "assistant_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assistant_tokens_user_id", table_name="assistant_tokens")
    op.drop_table("assistant_tokens")
    op.drop_index(
        "uq_user_phones_verified_phone", table_name="user_phones", postgresql_where=sa.text("verified_at IS NOT NULL")
    )
    op.drop_index("ix_user_phones_phone_e164", table_name="user_phones")
    op.drop_table("user_phones")
    op.drop_table("user_integrations")
    op.drop_table("user_credits")
    op.drop_table("usage_daily")
    op.drop_table("subscriptions")
    op.drop_index(
        "uq_outbox_user_id_dedupe_key", table_name="outbox", postgresql_where=sa.text("dedupe_key IS NOT NULL")
    )
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", postgresql_where=sa.text("status IN ('PENDING', 'SENDING')")
    )
    op.drop_table("outbox")
    op.drop_index("ix_messages_user_id_created_at", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_credit_ledger_user_id_created_at", table_name="credit_ledger")
    op.drop_table("credit_ledger")
    op.drop_index("ix_assistants_host_server_id", table_name="assistants")
    op.drop_table("assistants")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("host_servers")
