"""Liveness of the service and its database."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import MediaType, Response, get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from yourclaw import __version__
from yourclaw.server.state import AppState

DB_CHECK_TIMEOUT = 2.0


class Health(msgspec.Struct):
    status: str
    database: str
    version: str


async def _database_ok(engine: AsyncEngine) -> bool:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(check(), DB_CHECK_TIMEOUT)
    except Exception:  # noqa: BLE001  (any failure means "down" here)
        return False
    return True


@get("/health", tags=["health"], media_type=MediaType.JSON)
async def health(app_state: NamedDependency[AppState]) -> Response:
    if await _database_ok(app_state.engine):
        return Response(Health("ok", "ok", __version__))
    return Response(
        {
            "detail": "The database is unreachable",
            "code": "DATABASE_UNAVAILABLE",
            "status": "degraded",
            "database": "down",
            "version": __version__,
        },
        status_code=503,
    )
