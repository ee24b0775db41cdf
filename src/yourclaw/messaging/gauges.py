"""The worker's gauges of its queues, counted every METRICS_SAMPLE_SECONDS (`observability.metrics`):
inbound messages waiting for the router and for the assistant, and the outbox rows due now. One indexed
query each; a failed count leaves the last values and is tried again at the next sample."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.kit.settings import Settings
from yourclaw.observability import metrics

log = structlog.get_logger(__name__)

# RECEIVED: stored, not yet routed. QUEUED and LEASED: the user's assistant has it to answer.
_INBOUND = text(
    """
    SELECT CASE WHEN status = 'RECEIVED' THEN 'routing' ELSE 'assistant' END AS stage,
           count(*) AS depth,
           coalesce(extract(epoch FROM now() - min(received_at)), 0) AS oldest
    FROM inbound_messages WHERE status IN ('RECEIVED', 'QUEUED', 'LEASED')
    GROUP BY 1
    """
)
# Due now: pending, past any deferral and any retry's backoff; due since the latest of those.
_OUTBOX = text(
    """
    SELECT count(*) AS due,
           coalesce(extract(epoch FROM now() - min(greatest(created_at, coalesce(not_before, created_at),
                                                            coalesce(next_attempt_at, created_at)))), 0) AS lag
    FROM outbox
    WHERE status = 'PENDING' AND (not_before IS NULL OR not_before <= now())
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    """
)


async def sample(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        inbound = (await session.execute(_INBOUND)).all()
        outbox = (await session.execute(_OUTBOX)).one()
    metrics.reset_gauge(metrics.INBOUND_QUEUE_DEPTH, {r.stage: r.depth for r in inbound}, ("routing", "assistant"))
    metrics.reset_gauge(
        metrics.INBOUND_QUEUE_OLDEST_SECONDS, {r.stage: float(r.oldest) for r in inbound}, ("routing", "assistant")
    )
    metrics.OUTBOX_DEPTH.set(outbox.due)
    metrics.SENDER_LAG_SECONDS.set(float(outbox.lag))


async def run_gauge_sampler(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await sample(sessions)
        except Exception as exc:  # noqa: BLE001  (a gauge is never worth stopping the worker for)
            log.warning("gauge_sample_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.metrics_sample_seconds)
