"""Admission and settlement of one call of a service, on a pooled connection used as the driver's own
(`credits.service_usage` is plain SQL in autocommit, as the LLM proxy's reservations are)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.credits import service_usage
from yourclaw.credits.service_usage import Admitted, Service
from yourclaw.senses.errors import DailyCapReached, NoCredits, ServiceBusy


@asynccontextmanager
async def driver_connection(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[asyncpg.Connection]:
    async with sessions() as session:
        conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


async def admit(
    sessions: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    service: Service,
    *,
    hold_millicents: int,
    units: int,
    daily_cap: int,
    cap_message: str,
) -> Admitted:
    async with driver_connection(sessions) as conn:
        outcome = await service_usage.admit(
            conn, user_id, service, hold_millicents=hold_millicents, units=units, daily_cap=daily_cap
        )
    if isinstance(outcome, Admitted):
        return outcome
    if outcome.reason == "daily_cap":
        raise DailyCapReached(cap_message)
    if outcome.reason == "busy":
        raise ServiceBusy("Too many requests of this assistant are running at once; try again in a moment")
    raise NoCredits(
        "The assistant's credits for this billing period are used up, so it cannot use this service now; "
        "the user can see their credits on the YourClaw dashboard"
    )


async def settle(
    sessions: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    service: Service,
    admitted: Admitted,
    *,
    cost_millicents: int,
    units: int = 0,
) -> None:
    async with driver_connection(sessions) as conn:
        await service_usage.settle(conn, user_id, service, admitted, cost_millicents=cost_millicents, units=units)


async def give_back(
    sessions: async_sessionmaker[AsyncSession], user_id: uuid.UUID, service: Service, admitted: Admitted
) -> None:
    async with driver_connection(sessions) as conn:
        await service_usage.give_back(conn, user_id, service, admitted)
