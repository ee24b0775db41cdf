"""Rows past their time are deleted by a periodic sweep in every worker process (`yourclaw worker`,
`yourclaw dev`), as the grace sweep runs; each batch is claimed with SKIP LOCKED, so several never collide.

Deleted:
- media past `expires_at`: neither served through a signed URL nor attachable to a message after it;
- assistant tokens expired or revoked over a day ago: refused since, so a secret kept for nothing (the day
  leaves logs of a rotation readable against the rows);
- numbers never verified whose code expired UNVERIFIED_PHONE_RETENTION_DAYS ago: a number the user never
  proved to be theirs (it may be anyone's), and to prove it they must enter it again anyway;
- counts of number submissions whose hour is over;
- delivery statuses Twilio posted for a part no message claimed within a day (a part sent to a number with no
  account; messaging's `delivery_statuses` applies the others when it records the part).

Kept: Stripe events (an id and a type each, no personal data, and what makes a redelivery change nothing),
the conversation (messages, outbox, inbound queue: the dashboard's view and the audit), the credit ledger.
Assistants and their volumes have their own retention (VOLUME_RETENTION_DAYS, the reconciler).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.accounts import repository as accounts_repo
from yourclaw.accounts.service import PHONE_ATTEMPT_WINDOW
from yourclaw.db.engine import transaction
from yourclaw.db.models import EarlyDeliveryStatus
from yourclaw.kit.settings import Settings
from yourclaw.protocol import media_repository as media_repo
from yourclaw.protocol import tokens

log = structlog.get_logger(__name__)

# Retention is counted in days: a sweep every few minutes is prompt, and each costs a few indexed queries.
SWEEP_INTERVAL = 300.0
# Rows per transaction: a large backlog is deleted in short transactions, not one long one.
BATCH = 500
TOKEN_KEPT_AFTER_END = timedelta(days=1)
# A part is recorded within seconds of Twilio accepting it; a day is far past any sender's retry.
EARLY_STATUS_KEPT = timedelta(days=1)

Step = Callable[[AsyncSession], Awaitable[int]]


def _steps(settings: Settings) -> dict[str, Step]:
    now = datetime.now(UTC)
    unproven_before = now - timedelta(days=settings.unverified_phone_retention_days)
    return {
        "media": lambda s: media_repo.delete_expired_media(s, limit=BATCH),
        "assistant_tokens": lambda s: tokens.delete_ended(s, ended_before=now - TOKEN_KEPT_AFTER_END, limit=BATCH),
        "unverified_phones": lambda s: accounts_repo.delete_unproven_phones(
            s, code_expired_before=unproven_before, limit=BATCH
        ),
        "phone_attempts": lambda s: accounts_repo.delete_ended_phone_attempts(s, PHONE_ATTEMPT_WINDOW, limit=BATCH),
        "early_delivery_statuses": lambda s: _delete_unclaimed_statuses(s, received_before=now - EARLY_STATUS_KEPT),
    }


async def _delete_unclaimed_statuses(session: AsyncSession, *, received_before: datetime) -> int:
    # Messaging sits above this package; the table is plain enough to sweep here, as the others are.
    unclaimed = (
        select(EarlyDeliveryStatus.twilio_sid)
        .where(EarlyDeliveryStatus.received_at < received_before)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        delete(EarlyDeliveryStatus).where(EarlyDeliveryStatus.twilio_sid.in_(unclaimed.scalar_subquery()))
    )
    return result.rowcount or 0


async def sweep(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """One pass: how many rows of each kind went."""
    deleted: dict[str, int] = {}
    for kind, step in _steps(settings).items():
        total = 0
        while True:
            async with transaction(sessions) as session:
                count = await step(session)
            total += count
            if count < BATCH:
                break
        deleted[kind] = total
    return deleted


async def run_retention_sweeper(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    *,
    interval: float = SWEEP_INTERVAL,
) -> None:
    while not stop.is_set():
        try:
            deleted = await sweep(settings, sessions)
            if any(deleted.values()):
                log.info("retention_swept", **deleted)
        except Exception:
            # The next pass retries; a failing sweep must not take the worker's other jobs down.
            log.exception("retention_sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
