"""What a call through the proxy used, applied after its answer ended and off the answer's path: the
exact charge (idempotent by the call's reference), the day's LLM cost for `/usage`, and the WhatsApp
notices about credits (running low: once per period; out: once a day, shared with the router)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yourclaw.credits import ledger as credits
from yourclaw.credits import notices as credit_notices
from yourclaw.db.engine import transaction
from yourclaw.llm import catalog
from yourclaw.llm import repository as repo
from yourclaw.llm.usage import Usage
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp

log = structlog.get_logger(__name__)

LOW_CREDIT_PERCENT = 20
APPLY_ATTEMPTS = 4
BATCH = 500
_TRANSIENT = (DBAPIError, PoolTimeout, OSError)


@dataclass(frozen=True)
class Call:
    user_id: uuid.UUID
    reference: str  # unique per call: the ledger's idempotency key
    own_key: bool


def cost_of(model: str, usage: Usage) -> int:
    return catalog.cost_millicents(
        model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens,
    )


@dataclass(frozen=True)
class Charge:
    call: Call
    millicents: int


class Meter:
    """Each call's accounting happens after its answer ended, off the answer's path: calls queue here and
    one writer applies whatever has queued in a single statement (a ledger row per call), so a busy
    process writes in batches rather than one transaction per call. `drain` at shutdown lets the last
    ones land."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], app_url: str) -> None:
        self._engine = engine  # AUTOCOMMIT: the batch statement is atomic on its own
        self._sessions = sessions
        self._app_url = app_url
        self._queue: list[Charge] = []
        self._writer: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        # Users told "out of credits" today by this process: a refused retry storm costs no writes.
        self._told: dict[uuid.UUID, date] = {}

    def record(self, call: Call, model: str, usage: Usage) -> None:
        if usage.empty:
            return
        cost = cost_of(model, usage)
        log.info(
            "llm_usage",
            reference=call.reference,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cost_millicents=cost,
            own_key=call.own_key,
        )
        if cost <= 0:
            return
        self._queue.append(Charge(call, cost))
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write())

    def refused(self, user_id: uuid.UUID) -> None:
        today = datetime.now(UTC).date()
        if self._told.get(user_id) == today:
            return
        self._told[user_id] = today
        self._spawn(self._tell_out_of_credits(user_id))

    async def drain(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self._pending and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait(set(self._pending), timeout=left)

    def _spawn(self, work) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            for attempt in range(APPLY_ATTEMPTS):
                try:
                    low = await self._apply(batch)
                    break
                except _TRANSIENT as exc:
                    # Safe to repeat: each ledger row's reference makes its charge apply once.
                    log.warning("llm_usage_retry", attempt=attempt + 1, calls=len(batch), error=type(exc).__name__)
                    await asyncio.sleep(0.2 * 2**attempt)
            else:
                refs = [c.call.reference for c in batch]
                log.error("llm_usage_lost", calls=len(batch), references=refs)
                continue
            for user_id, after in low.items():
                self._spawn(self._warn_low(user_id, after))

    async def _apply(self, batch: list[Charge]) -> dict[uuid.UUID, credits.Balance]:
        """Charges the shared-key calls and records the own-key ones; returns users now running low."""
        charges = [(c.call.user_id, c.millicents, c.call.reference) for c in batch if not c.call.own_key]
        own: dict[uuid.UUID, int] = {}
        for c in batch:
            if c.call.own_key:
                own[c.call.user_id] = own.get(c.call.user_id, 0) + c.millicents
        async with self._engine.connect() as conn:
            after = await repo.charge_calls(conn, charges)
            # Own keys: recorded for /usage, not charged (the user pays Anthropic).
            await repo.add_daily_usage(conn, own)
        return {user_id: b for user_id, b in after.items() if credits.is_low(b, LOW_CREDIT_PERCENT)}

    async def _warn_low(self, user_id: uuid.UUID, after: credits.Balance) -> None:
        try:
            async with transaction(self._sessions) as session:
                period = await repo.credit_period(session, user_id)
                await enqueue_whatsapp(
                    session,
                    user_id,
                    credit_notices.low_credits(self._app_url, after.remaining_cents),
                    dedupe_key=credit_notices.low_credits_key(user_id, period),
                )
        except Exception:
            log.exception("llm_low_credits_notice_failed", user_id=str(user_id))

    async def _tell_out_of_credits(self, user_id: uuid.UUID) -> None:
        try:
            async with transaction(self._sessions) as session:
                await enqueue_whatsapp(
                    session,
                    user_id,
                    credit_notices.llm_out_of_credits(self._app_url),
                    dedupe_key=credit_notices.no_credits_key(user_id, datetime.now(UTC)),
                )
        except Exception:
            self._told.pop(user_id, None)
            log.exception("llm_no_credits_notice_failed", user_id=str(user_id))
