"""The ceiling for a durable ack: bare asyncpg transactions that insert a row like the webhook's, with no
HTTP, no framework and no product code in the way."""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg

SCRATCH = "bench_ceiling"


async def ceiling(
    dsn: str, concurrency: int, seconds: float, *, notify: bool = False
) -> tuple[int, float, list[float]]:
    """BEGIN; INSERT one row like the webhook's into a scratch copy of inbound_messages; COMMIT — in a loop
    on `concurrency` connections. With `notify`, the transaction also sends a NOTIFY, as the webhook's do."""
    conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    run = secrets.token_hex(6)
    stmt = (
        f"INSERT INTO {SCRATCH} (message_sid, from_phone, wa_id, profile_name, body, media, status) "
        "VALUES ($1, $2, $3, $4, $5, '[]'::jsonb, 'RECEIVED') RETURNING id"
    )
    clock = time.perf_counter
    latencies: list[float] = []
    done = 0
    began = clock()
    end = began + seconds

    async def loop(conn: asyncpg.Connection, k: int) -> None:
        nonlocal done
        n = 0
        while clock() < end:
            n += 1
            t0 = clock()
            async with conn.transaction():
                row_id = await conn.fetchval(
                    stmt, f"SM{run}{k:03d}{n:017x}", "+15550100000", "15550100000", "Bench", "Hi! Can you remind me"
                )
                if notify:
                    await conn.execute("SELECT pg_notify('bench_ceiling', $1)", str(row_id))
            latencies.append(clock() - t0)
            done += 1

    try:
        await asyncio.gather(*(loop(c, k) for k, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    return done, clock() - began, latencies
