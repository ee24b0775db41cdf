"""The end of an unpaid subscription's grace period comes with no event from Stripe (its retries may go
on for weeks), so a periodic sweep stops those assistants. It runs in every worker process
(`yourclaw worker`, `yourclaw dev`); rows are claimed with SKIP LOCKED, so several never collide."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.billing import service
from yourclaw.db.engine import transaction
from yourclaw.kit.settings import Settings

log = structlog.get_logger(__name__)

# Grace is counted in days: a minute late is nothing, and the sweep costs one indexed query.
SWEEP_INTERVAL = 60.0


async def run_grace_sweeper(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    *,
    interval: float = SWEEP_INTERVAL,
) -> None:
    while not stop.is_set():
        try:
            async with transaction(sessions) as session:
                stopped = await service.suspend_lapsed(session, settings)
            if stopped:
                log.info("past_due_grace_ended", assistants_stopped=stopped)
        except Exception:
            # The next pass retries; a failing sweep must not take the worker's other jobs down.
            log.exception("grace_sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
