"""Reservations left behind by an API process that died mid-call are settled here, at what they held:
nothing is known of what those calls used, and Anthropic billed them all the same. Live calls renew their
reservations (`admission`), so only orphans expire. Runs in every worker process (`yourclaw worker`,
`yourclaw dev`); rows are claimed with SKIP LOCKED, so several sweeps never collide."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from yourclaw.credits import reservations, service_usage
from yourclaw.db.engine import driver_connection
from yourclaw.llm import repository as repo

log = structlog.get_logger(__name__)

SWEEP_INTERVAL = 30.0


async def settle_expired(engine: AsyncEngine) -> int:
    """One pass: the number of reservations settled."""
    async with driver_connection(engine) as conn, conn.transaction():
        expired = await reservations.expired(conn)
        if not expired:
            return 0
        # A search's or a transcription's hold is charged under its own service (credits.service_usage).
        services = await service_usage.settle_orphans(
            conn, [h for h in expired if service_usage.service_of(h.reference)]
        )
        unsettled = repo.Spend(model="unknown", purpose="unsettled")
        settled, _ = await repo.settle_calls(
            conn, [(charge, unsettled) for charge in expired if not service_usage.service_of(charge.reference)]
        )
    for done in settled:
        log.warning(
            "llm_reservation_expired",
            reference=done.reference,
            user_id=str(done.user_id),
            charged=done.charged_millicents,
        )
    return len(settled) + services


async def run_reservation_sweeper(
    engine: AsyncEngine, stop: asyncio.Event, *, interval: float = SWEEP_INTERVAL
) -> None:
    while not stop.is_set():
        try:
            await settle_expired(engine)
        except Exception:
            # The next pass retries; a failing sweep must not take the worker's other jobs down.
            log.exception("llm_reservation_sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
