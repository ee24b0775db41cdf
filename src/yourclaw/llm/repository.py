"""The metering proxy's SQL: who is calling (one query on the hot path) and what their calls used, per
model and purpose, written with their settlement against the credits (`credits.reservations`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from yourclaw.credits import reservations
from yourclaw.credits.ledger import Balance
from yourclaw.db.models import ApiKey, AssistantToken, CreditLedgerEntry, LlmSpendDaily, UserCredits
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


@dataclass(frozen=True)
class Spend:
    """What one call used, as `llm_spend_daily` adds it up per (user, model, purpose, own key)."""

    model: str
    purpose: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    server_tool_requests: int = 0


# Added to the settlement's own statement (`reservations.settle_many`'s `also`): the spend of the settlements that
# applied lands in the same commit, and a batch costs one round trip. Constant text, whatever the batch size.
_SPEND = """, spent AS (
        INSERT INTO llm_spend_daily AS d (user_id, model, purpose, own_key, calls, input_tokens, output_tokens,
                                          cache_write_tokens, cache_read_tokens, server_tool_requests, millicents)
        SELECT a.user_id, x.model, x.purpose, a.own_key, count(*), sum(x.input_tokens), sum(x.output_tokens),
               sum(x.cache_write_tokens), sum(x.cache_read_tokens), sum(x.server_tool_requests), sum(a.cost)
        FROM unnest($5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                    $12::bigint[])
             AS x(reference, model, purpose, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens,
                  server_tool_requests)
        JOIN applied a ON a.reference = x.reference
        GROUP BY a.user_id, x.model, x.purpose, a.own_key
        ON CONFLICT (user_id, day, model, purpose, own_key) DO UPDATE SET
            calls = d.calls + excluded.calls,
            input_tokens = d.input_tokens + excluded.input_tokens,
            output_tokens = d.output_tokens + excluded.output_tokens,
            cache_write_tokens = d.cache_write_tokens + excluded.cache_write_tokens,
            cache_read_tokens = d.cache_read_tokens + excluded.cache_read_tokens,
            server_tool_requests = d.server_tool_requests + excluded.server_tool_requests,
            millicents = d.millicents + excluded.millicents,
            updated_at = now()
    )"""


async def settle_calls(
    conn: asyncpg.Connection, calls: list[tuple[reservations.Charge, Spend]]
) -> tuple[list[reservations.Settled], dict[uuid.UUID, Balance]]:
    """Settles calls (`reservations.settle_many`) and adds what the ones that applied used to today's spend,
    in one statement: it commits alone (the driver's connection is in autocommit)."""
    spend_args = (
        [charge.reference for charge, _ in calls],
        [s.model[:100] for _, s in calls],
        [s.purpose for _, s in calls],
        [s.input_tokens for _, s in calls],
        [s.output_tokens for _, s in calls],
        [s.cache_write_tokens for _, s in calls],
        [s.cache_read_tokens for _, s in calls],
        [s.server_tool_requests for _, s in calls],
    )
    return await reservations.settle_many(conn, [charge for charge, _ in calls], also=_SPEND, also_args=spend_args)


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


async def spend_days(session: AsyncSession, user_id: uuid.UUID, first: date) -> list[LlmSpendDaily]:
    """The user's spend per day, model, purpose and key from `first` on (the usage view's chart)."""
    rows = await session.scalars(
        select(LlmSpendDaily)
        .where(LlmSpendDaily.user_id == user_id, LlmSpendDaily.day >= first)
        .order_by(LlmSpendDaily.day, LlmSpendDaily.purpose, LlmSpendDaily.model)
    )
    return list(rows.all())
