"""Reserve before spending, settle after: a call that may cost money holds its worst case against the
balance before it starts, and settles to its exact cost when it ends (the rest of the hold goes back).

Each step is one atomic statement. `reserve` is an `UPDATE ... WHERE` on the user's balance row, so
concurrent calls queue on that row and each sees the holds of those before it: the sum held and spent never
passes the allowance. The same row counts the open reservations, which caps calls in flight per user. An
own key (the user pays the provider) holds nothing but still counts as open.

Every reservation has a row: a settlement deletes it and gives its hold back, a live one is renewed by its
process, and one past `expires_at` was left by a process that died; `settle_expired` charges it in full,
since nothing is known of what the call used. A charge is a ledger row under the call's reference, so it
applies once whoever writes it first (the settlement or the sweep).

A hold may commit without waiting for its WAL flush (`durable=False`, the LLM proxy's: the flush sat in front
of every call). If PostgreSQL itself crashes within the moment before the flush, such holds are gone: their calls
are still charged exactly when they settle (a settlement charges with or without its hold), and what the user
could overspend is bounded by those calls. Settlements and the sweep always wait for the flush: a settlement
lost after the fact would leave its hold to be swept at the worst case.
"""

from __future__ import annotations

import functools
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
# and SQLAlchemy's async adaption of a statement cost more CPU than its round trip. {quick} is empty, or
# the `quick` CTE below: set_config(..., true) lasts to the end of the statement's own transaction, which
# is when a commit reads synchronous_commit.
_RESERVE = """
    WITH {quick}held AS (
        UPDATE user_credits
        SET reserved_millicents = reserved_millicents + $3, open_reservations = open_reservations + 1
        WHERE user_id = $1 AND open_reservations < $5
          AND ($4::boolean OR total_millicents - used_millicents - reserved_millicents >= $3)
        RETURNING user_id
    )
    INSERT INTO credit_reservations (reference, user_id, amount_millicents, own_key, expires_at)
    SELECT $2, user_id, $3, $4::boolean, now() + $6::interval FROM held{quick_join}
    RETURNING reference
"""
_RESERVE_DURABLE = _RESERVE.format(quick="", quick_join="")
_RESERVE_QUICK = _RESERVE.format(
    quick="quick AS (SELECT set_config('synchronous_commit', 'off', true)), ", quick_join=", quick"
)

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
    durable: bool = True,
) -> Refusal | None:
    """Hold `amount` millicents (0 for an own key) under `reference`; None when held, else why not.
    `conn` (the driver's, `db.engine.driver_connection`) is in autocommit: each statement commits alone.
    `durable=False` commits the hold without waiting for its WAL flush: only for a caller that settles with
    `settle_many`, which charges with or without the hold (see the module's docstring)."""
    if amount < 0:
        raise ValueError("a reservation cannot be negative")
    params = (user_id, reference, amount, own_key, max_open, ttl)
    statement = _RESERVE_DURABLE if durable else _RESERVE_QUICK
    refusal = Refusal(busy=False, free_millicents=0, open_reservations=0)
    for _ in range(3):
        if await conn.fetchrow(statement, *params) is not None:
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
class Charge:
    """What one call cost, to settle: `cost` is charged unless `own_key` (the user paid the provider)."""

    reference: str
    user_id: uuid.UUID
    own_key: bool
    cost: int  # millicents


@dataclass(frozen=True)
class Settled:
    """A settlement that applied: what its reservation held (0 when the hold was gone) and what was charged."""

    reference: str
    user_id: uuid.UUID
    own_key: bool
    held_millicents: int
    charged_millicents: int


# Many settlements in one statement (one commit, no round trip while the balance rows are locked): each
# deletes its reservation and gives its hold back, and charges the exact cost as a ledger row (own-key calls
# are not charged). The ledger row is what makes a charge apply once: a call the sweep charged already, or
# a settlement sent twice, finds it there; a call whose hold was lost (see the module's docstring) is charged
# all the same. `applied` is every settlement that did something. Today's spend per user goes to usage_daily
# as the other daily counters do; the balances after come back for the notices. `{also}` is where a caller's
# CTEs go (`settle_many`'s `also`: `llm.repository` adds the spend per model).
_SETTLE = f"""
    WITH s AS (
        SELECT * FROM unnest($1::text[], $2::uuid[], $3::boolean[], $4::bigint[])
                 AS s(reference, user_id, own_key, cost)
    ), done AS (
        DELETE FROM credit_reservations r USING s WHERE r.reference = s.reference
        RETURNING r.reference, r.amount_millicents AS held
    ), charged AS (
        INSERT INTO credit_ledger (user_id, delta_millicents, reason, reference)
        SELECT user_id, -cost, '{USAGE_REASON}', reference FROM s WHERE NOT own_key AND cost > 0
        ON CONFLICT (user_id, reference) DO NOTHING
        RETURNING reference, -delta_millicents AS amount
    ), applied AS (
        SELECT s.reference, s.user_id, s.own_key, s.cost, d.held, coalesce(c.amount, 0) AS charged
        FROM s LEFT JOIN done d ON d.reference = s.reference LEFT JOIN charged c ON c.reference = s.reference
        WHERE d.reference IS NOT NULL OR c.reference IS NOT NULL
    ), per_user AS (
        SELECT user_id, coalesce(sum(held), 0)::bigint AS held, count(held)::int AS calls,
               sum(charged)::bigint AS charged, sum(cost)::bigint AS spent
        FROM applied GROUP BY user_id
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
    ){{also}}
    SELECT a.reference, a.user_id, a.own_key, coalesce(a.held, 0), a.charged, b.total_millicents, b.used_millicents
    FROM applied a LEFT JOIN balances b ON b.user_id = a.user_id
"""


@functools.cache
def _settle_statement(also: str) -> str:
    return _SETTLE.format(also=also)


async def settle_many(
    conn: asyncpg.Connection, charges: list[Charge], *, also: str = "", also_args: tuple = ()
) -> tuple[list[Settled], dict[uuid.UUID, Balance]]:
    """Settle calls at their exact cost; one already settled (or swept) is skipped. Returns the settlements
    that applied and, per user charged, the balance after. `also` adds a caller's CTEs to the statement
    (`, name AS (...)`, reading `applied`), with `also_args` as its parameters from $5 on."""
    if not charges:
        return [], {}
    if any(c.cost < 0 for c in charges):
        raise ValueError("a cost cannot be negative")
    rows = await conn.fetch(
        _settle_statement(also),
        [c.reference for c in charges],
        [c.user_id for c in charges],
        [c.own_key for c in charges],
        [c.cost for c in charges],
        *also_args,
    )
    settled = [Settled(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]
    balances = {r[1]: Balance(int(r[5]), int(r[6])) for r in rows if not r[2] and r[5] is not None}
    return settled, balances


_EXPIRED = """
    SELECT reference, user_id, own_key, amount_millicents FROM credit_reservations WHERE expires_at < now()
    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""


async def expired(conn: asyncpg.Connection, limit: int = 500) -> list[Charge]:
    """Reservations left by a process that died, each as a charge of what it held: settled at that worst
    case, since nothing is known of what their calls used. Locked (SKIP LOCKED) until the caller's
    transaction ends."""
    return [Charge(row[0], row[1], row[2], int(row[3])) for row in await conn.fetch(_EXPIRED, limit)]
