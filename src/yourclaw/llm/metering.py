"""What a call through the proxy used, applied after its answer ended and off the answer's path: its
reservation settled to the exact charge (idempotent by the call's reference), the spend per model and
purpose for `/usage`, and the WhatsApp notices about credits (80 % used and used up: once each per period).

A call whose usage is unknown (its caller left before anything came back, say) settles at what it
reserved, the worst case; a known usage is charged exactly, but never more than the reservation, so the
sum charged never passes the allowance (a cost above its bound is logged: the bound needs mending).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.credits import ledger as credits
from yourclaw.credits import notices as credit_notices
from yourclaw.credits import reservations
from yourclaw.db.engine import transaction
from yourclaw.llm import catalog
from yourclaw.llm import repository as repo
from yourclaw.llm.usage import Usage
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.observability import metrics

log = structlog.get_logger(__name__)

LOW_CREDIT_PERCENT = 20
BATCH = 500
# The writer waits this long for more calls to end before it writes: each statement wakes a PostgreSQL
# backend, which cost as much CPU as relaying a whole answer; a busy process then writes one batch where it
# wrote several. The holds stay this much longer, well within a turn's pause between two calls.
LINGER_SECONDS = 0.01
# A batch that failed on the database's side of things is tried again, longer apart each time, for as long as
# its reservations live (`LLM_RESERVATION_TTL_SECONDS`): after that the sweep has charged them at their worst
# case, and the exact charge would find their ledger rows already there.
RETRY_FIRST = 0.2
RETRY_LONGEST = 5.0
# The pool's errors (asyncpg: a connection lost or refused, the server restarting, a deadlock between two
# processes' batches), not a bug in the statement.
_TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    OSError,
    asyncio.TimeoutError,
)


@dataclass(frozen=True)
class Call:
    user_id: uuid.UUID
    reference: str  # unique per call: its reservation and ledger row
    own_key: bool
    held_millicents: int = 0  # what its reservation holds: the worst case
    purpose: str = "reply"


def _count(model: str, usage: Usage, millicents: int) -> None:
    """The settled call in the proxy's counters (`observability.metrics`)."""
    metrics.LLM_CALLS.labels(model).inc()
    for kind, tokens in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_write", usage.cache_creation_tokens),
        ("cache_read", usage.cache_read_tokens),
    ):
        if tokens:
            metrics.LLM_TOKENS.labels(model, kind).inc(tokens)
    metrics.LLM_COST_CENTS.labels(model).inc(millicents / 1000)


def cost_of(model: str, usage: Usage) -> int:
    return catalog.cost_millicents(
        model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_1h_tokens=usage.cache_creation_1h_tokens,
        server_tool_requests=usage.server_tool_requests,
    )


@dataclass(frozen=True)
class Settlement:
    call: Call
    model: str
    usage: Usage
    millicents: int  # what it cost (own key) or is charged (shared key)

    def to_settle(self) -> tuple[reservations.Charge, repo.Spend]:
        call, usage = self.call, self.usage
        spend = repo.Spend(
            model=self.model or "unknown",
            purpose=call.purpose,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_write_tokens=usage.cache_creation_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            server_tool_requests=sum(usage.server_tool_requests.values()),
        )
        return reservations.Charge(call.reference, call.user_id, call.own_key, self.millicents), spend


class Meter:
    """Each call's accounting happens after its answer ended, off the answer's path: calls queue here and
    one writer applies whatever has queued in a single statement (a ledger row per call), so a busy
    process writes in batches rather than one transaction per call. `drain` at shutdown lets the last
    ones land."""

    def __init__(
        self, pool: asyncpg.Pool, sessions: async_sessionmaker[AsyncSession], app_url: str, retry_for: float
    ) -> None:
        self._pool = pool
        self._sessions = sessions
        self._app_url = app_url
        self._retry_for = retry_for
        self._queue: list[Settlement] = []
        self._writer: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        # Users told "used up" by this process, today at this allowance: a refused retry storm costs no
        # writes, and a new allowance (a period, a top-up) is told again.
        self._told: dict[uuid.UUID, tuple[date, int]] = {}

    def record(self, call: Call, model: str, usage: Usage | None) -> None:
        """Settle a call that ended: `usage` None means nothing is known of what it used."""
        if usage is None:
            usage, cost = Usage(), call.held_millicents
            log.warning("llm_usage_unknown", reference=call.reference, held_millicents=cost)
        else:
            cost = cost_of(model, usage)
        if not call.own_key and cost > call.held_millicents:
            log.error(
                "llm_cost_above_reservation",
                reference=call.reference,
                model=model,
                cost_millicents=cost,
                held_millicents=call.held_millicents,
            )
            cost = call.held_millicents
        log.info(
            "llm_usage",
            reference=call.reference,
            model=model,
            purpose=call.purpose,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cost_millicents=cost,
            own_key=call.own_key,
        )
        _count(catalog.metric_label(model or ""), usage, cost)
        self._queue.append(Settlement(call, model, usage, cost))
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write())

    def refused(self, user_id: uuid.UUID, allowance: int) -> None:
        metrics.CREDIT_REFUSALS.labels("llm_proxy").inc()
        told = (datetime.now(UTC).date(), allowance)
        if self._told.get(user_id) == told:
            return
        self._told[user_id] = told
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
        await asyncio.sleep(LINGER_SECONDS)
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            low = await self._apply_until_done(batch)
            for user_id, after in low.items():
                self._spawn(self._warn_low(user_id, after))

    async def _apply_until_done(self, batch: list[Settlement]) -> dict[uuid.UUID, credits.Balance]:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._retry_for
        pause, attempt = RETRY_FIRST, 0
        while True:
            attempt += 1
            try:
                return await self._apply(batch)
            except _TRANSIENT as exc:
                # Safe to repeat: a charge is a ledger row under the call's reference, so it applies once.
                if loop.time() + pause > give_up:
                    # The reservations stay and expire: the sweep settles them at their worst case.
                    refs = [s.call.reference for s in batch]
                    log.error("llm_usage_lost", calls=len(batch), references=refs, error=type(exc).__name__)
                    return {}
                log.warning("llm_usage_retry", attempt=attempt, calls=len(batch), error=type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_LONGEST)
            except Exception:
                # Not the database being away: trying again would fail the same way. The sweep has them.
                log.exception("llm_usage_failed", calls=len(batch), references=[s.call.reference for s in batch])
                return {}

    async def _apply(self, batch: list[Settlement]) -> dict[uuid.UUID, credits.Balance]:
        """Settles the batch (own-key calls are recorded, not charged); returns users now running low."""
        async with self._pool.acquire() as conn:
            _, after = await repo.settle_calls(conn, [s.to_settle() for s in batch])
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
                period = await repo.credit_period(session, user_id)
                await enqueue_whatsapp(
                    session,
                    user_id,
                    credit_notices.llm_out_of_credits(self._app_url),
                    dedupe_key=credit_notices.used_up_key(user_id, period),
                )
        except Exception:
            self._told.pop(user_id, None)
            log.exception("llm_no_credits_notice_failed", user_id=str(user_id))
