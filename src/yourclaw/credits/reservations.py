"""Reserve before spending, settle after: a call that may cost money holds its worst case against the
balance before it starts, and settles to its exact cost when it ends (the rest of the hold goes back).

Each step is one atomic statement. `reserve` is an `UPDATE ... WHERE` on the user's balance row, so
concurrent calls queue on that row and each sees the holds of those before it: the sum held and spent never
passes the allowance. The same row counts the open reservations, which caps calls in flight per user. An
own key (the user pays the provider) holds nothing but still counts as open.

Every reservation has a row: a settlement deletes it (so it applies once), a live one is renewed by its
process, and one past `expires_at` was left by a process that died; `settle_expired` charges it in full,
since nothing is known of what the call used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from yourclaw.credits.ledger import Balance

# The ledger's reason for what a settled reservation cost.
USAGE_REASON = "LLM_USAGE"


@dataclass(frozen=True)
class Refusal:
    """Why a reservation was not made, from the balance as it stood."""

    busy: bool  # the user's open reservations are at the limit
    free_millicents: int  # total - used - reserved (0 at least)
    open_reservations: int


# Plain SQL on the driver's own connection (`db.engine.driver_connection`): it runs before every LLM call,
# and SQLAlchemy's async adaption of a statement cost more CPU than its round trip.
_RESERVE = """
    WITH held AS (
        UPDATE user_credits
        SET reserved_millicents = reserved_millicents + $3, open_reservations = open_reservations + 1
        WHERE user_id = $1 AND open_reservations < $5
          AND ($4::boolean OR total_millicents - used_millicents - reserved_millicents >= $3)
        RETURNING user_id
    )
    INSERT INTO credit_reservations (reference, user_id, amount_millicents, own_key, expires_at)
    SELECT $2, user_id, $3, $4::boolean, now() + $6::interval FROM held
    RETURNING reference
"""

_STATE = """
    SELECT total_millicents - used_millicents - reserved_millicents, open_reservations
    FROM user_credits WHERE user_id = $1
"""
_ENSURE = "INSERT INTO user_credits (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING"


async def reserve(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    reference: str,
    amount: int,
    *,
    own_key: bool,
    max_open: int,
    ttl: timedelta,
) -> Refusal | None:
    """Hold `amount` millicents (0 for an own key) under `reference`; None when held, else why not.
    `conn` (the driver's, `db.engine.driver_connection`) is in autocommit: each statement commits alone."""
    if amount < 0:
        raise ValueError("a reservation cannot be negative")
    params = (user_id, reference, amount, own_key, max_open, ttl)
    refusal = Refusal(busy=False, free_millicents=0, open_reservations=0)
    for _ in range(3):
        if await conn.fetchrow(_RESERVE, *params) is not None:
            return None
        state = await conn.fetchrow(_STATE, user_id)
        if state is None:
            # A user with an own key and no allowance yet has no balance row: make it, then try again.
            await conn.execute(_ENSURE, user_id)
            continue
        free, open_now = int(state[0]), int(state[1])
        refusal = Refusal(busy=open_now >= max_open, free_millicents=max(0, free), open_reservations=open_now)
        if refusal.busy or not (own_key or free >= amount):
            return refusal
        # It fits now: the balance changed between the two statements (a settlement); try again.
    return refusal


_RENEW = "UPDATE credit_reservations SET expires_at = now() + $2::interval WHERE reference = ANY($1::text[])"


async def renew(conn: asyncpg.Connection, references: list[str], ttl: timedelta) -> None:
    """Live calls keep their reservations: a long answer outlasts one time-to-live."""
    if references:
        await conn.execute(_RENEW, references, ttl)


@dataclass(frozen=True)
class Settled:
    """A settlement that applied: what its reservation held and what was charged."""

    reference: str
    user_id: uuid.UUID
    own_key: bool
    held_millicents: int
    charged_millicents: int


# Many settlements in one statement: each deletes its reservation (so it applies once), charges the exact
# cost as a ledger row (own-key calls are not charged), and gives the holds back; the balances after come
# back for the notices. Today's spend per user goes to usage_daily as the other daily counters do. On the
# driver's connection too: it runs after every LLM call.
_SETTLE = f"""
    WITH s AS (
        SELECT * FROM unnest($1::text[], $2::bigint[]) AS s(reference, cost)
    ), done AS (
        DELETE FROM credit_reservations r USING s WHERE r.reference = s.reference
        RETURNING r.reference, r.user_id, r.own_key, r.amount_millicents AS held, s.cost
    ), charged AS (
        INSERT INTO credit_ledger (user_id, delta_millicents, reason, reference)
        SELECT user_id, -cost, '{USAGE_REASON}', reference FROM done WHERE NOT own_key AND cost > 0
        ON CONFLICT (user_id, reference) DO NOTHING
        RETURNING user_id, reference, -delta_millicents AS amount
    ), per_user AS (
        SELECT d.user_id, sum(d.held)::bigint AS held, count(*)::int AS calls,
               coalesce(sum(c.amount), 0)::bigint AS charged, sum(d.cost)::bigint AS spent
        FROM done d LEFT JOIN charged c ON c.reference = d.reference
        GROUP BY d.user_id
    ), daily AS (
        INSERT INTO usage_daily (user_id, llm_millicents)
        SELECT user_id, spent FROM per_user WHERE spent > 0
        ON CONFLICT (user_id, day) DO UPDATE
        SET llm_millicents = usage_daily.llm_millicents + excluded.llm_millicents, updated_at = now()
    ), balances AS (
        UPDATE user_credits u
        SET used_millicents = u.used_millicents + p.charged,
            reserved_millicents = u.reserved_millicents - p.held,
            open_reservations = u.open_reservations - p.calls,
            updated_at = now()
        FROM per_user p WHERE u.user_id = p.user_id
        RETURNING u.user_id, u.total_millicents, u.used_millicents
    )
    SELECT d.reference, d.user_id, d.own_key, d.held, coalesce(c.amount, 0), b.total_millicents, b.used_millicents
    FROM done d LEFT JOIN charged c ON c.reference = d.reference LEFT JOIN balances b ON b.user_id = d.user_id
"""


async def settle_many(
    conn: asyncpg.Connection, costs: list[tuple[str, int]]
) -> tuple[list[Settled], dict[uuid.UUID, Balance]]:
    """Settle (reference, exact cost) pairs; a reference already settled (or swept) is skipped. Returns
    the settlements that applied and, per user charged, the balance after."""
    if not costs:
        return [], {}
    if any(cost < 0 for _, cost in costs):
        raise ValueError("a cost cannot be negative")
    references, amounts = (list(column) for column in zip(*costs, strict=True))
    rows = await conn.fetch(_SETTLE, references, amounts)
    settled = [Settled(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]
    balances = {r[1]: Balance(int(r[5]), int(r[6])) for r in rows if not r[2] and r[5] is not None}
    return settled, balances


_EXPIRED = """
    SELECT reference, amount_millicents FROM credit_reservations WHERE expires_at < now()
    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""


async def expired(conn: asyncpg.Connection, limit: int = 500) -> list[tuple[str, int]]:
    """Reservations left by a process that died, with what each held: settled at that worst case, since
    nothing is known of what their calls used. Locked (SKIP LOCKED) until the caller's transaction ends."""
    return [(row[0], int(row[1])) for row in await conn.fetch(_EXPIRED, limit)]
