"""The metering proxy's SQL: who is calling (one query on the hot path) and what their calls used."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, String, Uuid, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from yourclaw.credits.ledger import Balance
from yourclaw.db.models import ApiKey, AssistantToken, CreditLedgerEntry, UsageDaily, UserCredits
from yourclaw.llm.callers import CallerRow

PROVIDER = "ANTHROPIC"


# Token, own key and balance in one round trip: the only database work before a call is forwarded. Plain
# SQL through the driver: building and compiling the equivalent select() cost about a millisecond of CPU
# per call, more than the rest of the proxy's work before forwarding.
_CALLER = f"""
    SELECT t.user_id, k.encrypted_key, coalesce(c.total_millicents, 0), coalesce(c.used_millicents, 0), t.expires_at
    FROM {AssistantToken.__tablename__} t
    LEFT JOIN {ApiKey.__tablename__} k ON k.user_id = t.user_id AND k.provider = '{PROVIDER}'
    LEFT JOIN {UserCredits.__tablename__} c ON c.user_id = t.user_id
    WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
"""


async def caller_by_token(conn: AsyncConnection, token_hash: str) -> CallerRow | None:
    """The owner of a valid (not revoked, not expired) assistant token, with their own key and balance."""
    row = (await conn.exec_driver_sql(_CALLER, (token_hash,))).first()
    if row is None:
        return None
    return CallerRow(row[0], row[1], Balance(row[2], row[3]), row[4])


# Many calls' charges in one statement (so one round trip, atomic on its own): a ledger row per call,
# idempotent by its reference as in `credits.charge`; then, for the rows actually added, each user's
# balance and today's LLM cost (the database's calendar, as the other daily counters use).
_CHARGE_CALLS = text(
    """
    WITH new AS (
        INSERT INTO credit_ledger (user_id, delta_millicents, reason, reference)
        SELECT c.user_id, -c.amount, 'LLM_USAGE', c.reference
        FROM unnest(:user_ids, :amounts, :references) AS c(user_id, amount, reference)
        ON CONFLICT (user_id, reference) DO NOTHING
        RETURNING user_id, -delta_millicents AS amount
    ), per_user AS (
        SELECT user_id, sum(amount)::bigint AS amount FROM new GROUP BY user_id
    ), daily AS (
        INSERT INTO usage_daily (user_id, llm_millicents)
        SELECT user_id, amount FROM per_user
        ON CONFLICT (user_id, day) DO UPDATE
        SET llm_millicents = usage_daily.llm_millicents + excluded.llm_millicents, updated_at = now()
    )
    INSERT INTO user_credits (user_id, used_millicents)
    SELECT user_id, amount FROM per_user
    ON CONFLICT (user_id) DO UPDATE
    SET used_millicents = user_credits.used_millicents + excluded.used_millicents, updated_at = now()
    RETURNING user_id, total_millicents, used_millicents
    """
).bindparams(
    bindparam("user_ids", type_=ARRAY(Uuid())),
    bindparam("amounts", type_=ARRAY(BigInteger())),
    bindparam("references", type_=ARRAY(String())),
)


async def charge_calls(conn: AsyncConnection, charges: list[tuple[uuid.UUID, int, str]]) -> dict[uuid.UUID, Balance]:
    """Charge (user, millicents, reference) triples; the balances after, of users charged anew."""
    if not charges:
        return {}
    user_ids, amounts, references = (list(column) for column in zip(*charges, strict=True))
    rows = await conn.execute(_CHARGE_CALLS, {"user_ids": user_ids, "amounts": amounts, "references": references})
    return {row[0]: Balance(row[1], row[2]) for row in rows}


async def add_daily_usage(conn: AsyncConnection, millicents_by_user: dict[uuid.UUID, int]) -> None:
    """Today's LLM cost of calls not charged (own keys), one row per user."""
    if not millicents_by_user:
        return
    stmt = insert(UsageDaily).values(
        [{"user_id": user_id, "llm_millicents": amount} for user_id, amount in millicents_by_user.items()]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[UsageDaily.user_id, UsageDaily.day],
            set_={"llm_millicents": UsageDaily.llm_millicents + stmt.excluded.llm_millicents, "updated_at": func.now()},
        )
    )


async def credit_period(session: AsyncSession, user_id: uuid.UUID) -> str:
    """What names the current allowance: the last grant or period reset. A new period (or a top-up) is a
    new name, so the "credits running low" notice can go out again."""
    entry = await session.scalar(
        select(CreditLedgerEntry.id)
        .where(CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.reason.in_(("GRANT", "RESET")))
        .order_by(CreditLedgerEntry.id.desc())
        .limit(1)
    )
    return str(entry or 0)
