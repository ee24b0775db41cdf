"""One-off SQL against a benchmark's PostgreSQL, outside the product's code: checkpoints, counts, the rows'
own timestamps."""

from __future__ import annotations

import asyncpg


async def sql(dsn: str, *statements: str) -> list[list[asyncpg.Record]]:
    """Each statement's rows, in order, over one connection opened for them."""
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for stmt in statements:
            out.append(await conn.fetch(stmt))
        return out
    finally:
        await conn.close()
