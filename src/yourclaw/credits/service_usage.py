"""Metering the outside services assistants use through the control plane (web search, transcription):
admitted against a daily cap and the credits before the upstream call, settled to the exact cost after it.

Reserve before spending, as the LLM proxy does (`reservations.reserve`: the worst case is held against the
balance, so concurrent calls never spend past it), and a settlement that charges the exact cost as one ledger
row under the service's own reason and counts the day's use in `service_usage_daily`. The daily cap is one
atomic upsert: a row may only grow while it is under the cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.credits import reservations
from yourclaw.db.models import ServiceUsageDaily

Service = Literal["search", "transcription"]
REASONS: dict[str, str] = {"search": "SEARCH", "transcription": "TRANSCRIPTION"}
# Open reservations of a user (LLM calls included) beyond which a service call is refused as busy.
MAX_OPEN = 8
# A reservation a process left behind is settled at its full hold after this long (`llm.reservation_sweep`).
RESERVATION_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Admitted:
    reference: str
    units: int  # counted against the cap already at admission


@dataclass(frozen=True)
class Refused:
    reason: Literal["daily_cap", "credits", "busy"]


# Counts `units` now, only while the day stays within the cap (`units` 0: admitted while under the cap, the
# real amount added at settlement, as for audio whose length is known only once transcribed).
_ADMIT = """
    INSERT INTO service_usage_daily (user_id, service, units) VALUES ($1, $2, $3)
    ON CONFLICT (user_id, day, service) DO UPDATE
    SET units = service_usage_daily.units + excluded.units, updated_at = now()
    WHERE service_usage_daily.units + excluded.units <= $4 AND service_usage_daily.units < $4
    RETURNING units
"""
_GIVE_BACK = """
    UPDATE service_usage_daily SET units = greatest(units - $3, 0), updated_at = now()
    WHERE user_id = $1 AND service = $2 AND day = CURRENT_DATE
"""

# One statement: the reservation goes (so a settlement applies once), the exact cost is one ledger row under
# the service's reason, the hold is given back, and the day's use is counted.
_SETTLE = """
    WITH done AS (
        DELETE FROM credit_reservations WHERE reference = $1 AND user_id = $2
        RETURNING user_id, amount_millicents AS held
    ), charged AS (
        INSERT INTO credit_ledger (user_id, delta_millicents, reason, reference)
        SELECT user_id, -$3::bigint, $4, $1 FROM done WHERE $3::bigint > 0
        ON CONFLICT (user_id, reference) DO NOTHING
        RETURNING user_id
    ), balance AS (
        UPDATE user_credits u
        SET used_millicents = u.used_millicents + (SELECT count(*) FROM charged) * $3::bigint,
            reserved_millicents = u.reserved_millicents - d.held,
            open_reservations = u.open_reservations - 1,
            updated_at = now()
        FROM done d WHERE u.user_id = d.user_id
        RETURNING u.user_id
    ), counted AS (
        INSERT INTO service_usage_daily (user_id, service, calls, units, millicents)
        SELECT user_id, $5, 1, $6, $3 FROM done WHERE $7::boolean
        ON CONFLICT (user_id, day, service) DO UPDATE
        SET calls = service_usage_daily.calls + 1, units = service_usage_daily.units + excluded.units,
            millicents = service_usage_daily.millicents + excluded.millicents, updated_at = now()
        RETURNING user_id
    )
    SELECT count(*) FROM balance
"""


async def admit(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    service: Service,
    *,
    hold_millicents: int,
    units: int,
    daily_cap: int,
) -> Admitted | Refused:
    """Within today's cap (counting `units` now) and with `hold_millicents` held against the credits.
    `conn` is the driver's, in autocommit."""
    if await conn.fetchval(_ADMIT, user_id, service, units, daily_cap) is None:
        return Refused("daily_cap")
    reference = f"{service}:{uuid.uuid4()}"
    refusal = await reservations.reserve(
        conn, user_id, reference, hold_millicents, own_key=False, max_open=MAX_OPEN, ttl=RESERVATION_TTL
    )
    if refusal is not None:
        await conn.execute(_GIVE_BACK, user_id, service, units)
        return Refused("busy" if refusal.busy else "credits")
    return Admitted(reference, units)


async def settle(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    service: Service,
    admitted: Admitted,
    *,
    cost_millicents: int,
    units: int = 0,
    counted: bool = True,
) -> bool:
    """The call ended: charge its exact cost (0 when the upstream failed) and count `units` more of the day's
    use. False when the reservation was gone already (swept, or settled before)."""
    if cost_millicents < 0 or units < 0:
        raise ValueError("a cost cannot be negative")
    settled = await conn.fetchval(
        _SETTLE, admitted.reference, user_id, cost_millicents, REASONS[service], service, units, counted
    )
    return bool(settled)


async def give_back(conn: asyncpg.Connection, user_id: uuid.UUID, service: Service, admitted: Admitted) -> None:
    """The upstream did not answer: nothing is charged, and what the admission counted goes back."""
    await settle(conn, user_id, service, admitted, cost_millicents=0, counted=False)
    if admitted.units:
        await conn.execute(_GIVE_BACK, user_id, service, admitted.units)


def service_of(reference: str) -> Service | None:
    """The service a reservation was made for (its reference's prefix), None for an LLM call's."""
    prefix = reference.split(":", 1)[0]
    return prefix if prefix in REASONS else None  # type: ignore[return-value]


async def settle_orphans(conn: asyncpg.Connection, held: list[reservations.Charge]) -> int:
    """Service reservations a dead process left (`reservations.expired`, locked by the caller): charged at what
    they held under their service's reason, as an LLM call's would be. Returns how many applied."""
    done = 0
    for hold in held:
        service = service_of(hold.reference)
        if service is None:
            continue
        done += await settle(conn, hold.user_id, service, Admitted(hold.reference, 0), cost_millicents=hold.cost)
    return done


async def days_since(session: AsyncSession, user_id: uuid.UUID, first: date) -> list[ServiceUsageDaily]:
    """The user's use of each service per day since `first` (the usage view)."""
    rows = await session.scalars(
        select(ServiceUsageDaily)
        .where(ServiceUsageDaily.user_id == user_id, ServiceUsageDaily.day >= first)
        .order_by(ServiceUsageDaily.day, ServiceUsageDaily.service)
    )
    return list(rows.all())
