"""Notify the API processes of every change to what the LLM proxy knows of a caller

The proxy keeps callers (token, own key, balance) in memory (`llm/callers.py`); these triggers tell it of
each committed change: a balance with its new figures, a token or key change as "read this user again".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "yourclaw_llm_callers"  # llm.callers.CHANNEL, as it was when this revision was written


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION notify_llm_caller() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('{CHANNEL}', 'changed ' || OLD.user_id);
            ELSIF TG_TABLE_NAME = 'user_credits' THEN
                PERFORM pg_notify(
                    '{CHANNEL}', 'balance ' || NEW.user_id || ' ' || NEW.total_millicents || ' ' || NEW.used_millicents
                );
            ELSE
                PERFORM pg_notify('{CHANNEL}', 'changed ' || NEW.user_id);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    # A new token is not known to any process yet: only its later changes (rotation, revocation) matter.
    op.execute(
        "CREATE TRIGGER assistant_tokens_notify_llm_caller AFTER UPDATE OR DELETE ON assistant_tokens "
        "FOR EACH ROW EXECUTE FUNCTION notify_llm_caller()"
    )
    op.execute(
        "CREATE TRIGGER api_keys_notify_llm_caller AFTER INSERT OR UPDATE OR DELETE ON api_keys "
        "FOR EACH ROW EXECUTE FUNCTION notify_llm_caller()"
    )
    op.execute(
        "CREATE TRIGGER user_credits_notify_llm_caller AFTER INSERT OR UPDATE OR DELETE ON user_credits "
        "FOR EACH ROW EXECUTE FUNCTION notify_llm_caller()"
    )


def downgrade() -> None:
    for table in ("assistant_tokens", "api_keys", "user_credits"):
        op.execute(f"DROP TRIGGER {table}_notify_llm_caller ON {table}")
    op.execute("DROP FUNCTION notify_llm_caller()")
