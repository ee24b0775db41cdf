"""The metering proxy's SQL: who is calling (one query on the hot path) and what their calls used, per
model and purpose (their settlement against the credits is `credits.reservations`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
    """One settled call, as `llm_spend_daily` adds it up."""

    user_id: uuid.UUID
    model: str
    purpose: str
    own_key: bool
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    server_tool_requests: int
    millicents: int


_COUNTERS = (
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "server_tool_requests",
    "millicents",
)


async def add_spend(conn: AsyncConnection, spends: list[Spend]) -> None:
    """Today's spend per (user, model, purpose, own key), one row each, added up in one statement."""
    if not spends:
        return
    totals: dict[tuple, dict[str, int]] = {}
    for spend in spends:
        key = (spend.user_id, spend.model[:100], spend.purpose, spend.own_key)
        row = totals.setdefault(key, dict.fromkeys(("calls", *_COUNTERS), 0))
        row["calls"] += 1
        for name in _COUNTERS:
            row[name] += getattr(spend, name)
    stmt = insert(LlmSpendDaily).values(
        [
            {"user_id": user_id, "model": model, "purpose": purpose, "own_key": own_key, **counts}
            for (user_id, model, purpose, own_key), counts in totals.items()
        ]
    )
    added = {name: getattr(LlmSpendDaily, name) + getattr(stmt.excluded, name) for name in ("calls", *_COUNTERS)}
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                LlmSpendDaily.user_id,
                LlmSpendDaily.day,
                LlmSpendDaily.model,
                LlmSpendDaily.purpose,
                LlmSpendDaily.own_key,
            ],
            set_={**added, "updated_at": func.now()},
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
