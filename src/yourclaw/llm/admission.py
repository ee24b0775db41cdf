"""Whether a Messages call may go upstream, decided before a byte is sent: its worst case is reserved
against the user's credits (`credits.reservations`), and at most `LLM_MAX_CALLS_IN_FLIGHT` calls of one
user are open at once, own key or not.

When the worst case does not fit the credit left, two things are tried before refusing, so the last cents
of a period are usable: the exact input count (Anthropic's free `count_tokens`) in place of the bound from
the body's size, then a smaller `max_tokens`, cut to what the credit left pays for, down to
`LLM_MIN_OUTPUT_TOKENS`. Only then is the call refused, in Anthropic's error shape and never forwarded.

Reservations of calls still running are renewed in one statement every third of their time-to-live, so
only those of a process that died expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog

from yourclaw.credits import reservations
from yourclaw.credits.ledger import to_cents
from yourclaw.kit.settings import Settings
from yourclaw.llm import call_bounds
from yourclaw.llm.call_bounds import RequestHead
from yourclaw.llm.errors import ProxyError

log = structlog.get_logger(__name__)

# A 429 says when to try again: a turn of a busy assistant takes seconds.
RETRY_AFTER_SECONDS = 2
OUT_OF_CREDITS = (
    "Insufficient credits: this account's credit balance is used up. Add credits or your own Anthropic API key "
    "in the YourClaw dashboard."
)

# Counts the input of a request exactly (Anthropic's count_tokens), None when it cannot.
Counter = Callable[[bytes], Awaitable[int | None]]


@dataclass(frozen=True)
class Admitted:
    reference: str
    held_millicents: int
    body: bytes  # as it goes upstream: `max_tokens` may have been cut to what the credit pays for


def _worst(head: RequestHead, input_tokens: int, output_tokens: int) -> int:
    return call_bounds.worst_case(head.model, input_tokens, output_tokens, long_cache=head.long_cache)


def _too_many(limit: int) -> ProxyError:
    return ProxyError(
        429,
        "rate_limit_error",
        f"Too many calls at once: this assistant may have {limit} calls in flight; retry shortly",
        {"retry-after": str(RETRY_AFTER_SECONDS)},
    )


def _insufficient(needed: int, free: int) -> ProxyError:
    # 402 billing_error: Anthropic's status for billing, which clients do not retry.
    if free <= 0:
        message = OUT_OF_CREDITS
    else:
        message = (
            f"Insufficient credits: this request may cost up to ${to_cents(needed) / 100:.2f} and "
            f"${to_cents(free) / 100:.2f} of credit is left. Send a shorter request, add credits or your own "
            "Anthropic API key in the YourClaw dashboard."
        )
    return ProxyError(402, "billing_error", message, {"x-should-retry": "false"})


class Admission:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.max_open = settings.llm_max_calls_in_flight
        self.min_output = settings.llm_min_output_tokens
        self.ttl = timedelta(seconds=settings.llm_reservation_ttl_seconds)
        self._live: set[str] = set()
        self._renewer: asyncio.Task | None = None
        self._releasing: set[asyncio.Task] = set()

    def start(self) -> None:
        self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._releasing:
            await asyncio.wait(set(self._releasing), timeout=10.0)

    def ended(self, reference: str) -> None:
        """The call is over (its settlement is queued): its reservation needs no more renewing."""
        self._live.discard(reference)

    async def admit(
        self, user_id: uuid.UUID, head: RequestHead, body: bytes, *, own_key: bool, count: Counter
    ) -> Admitted:
        reference = f"llm:{uuid.uuid4().hex}"
        output = call_bounds.output_bound(head)
        if head.max_tokens is not None and head.max_tokens > output:
            # Beyond the model's limit: clamped, rather than refused upstream.
            body = call_bounds.with_max_tokens(body, output)
        needed = 0 if own_key else _worst(head, head.input_bound, output)
        refusal = await self._reserve(user_id, reference, needed, own_key)
        if refusal is not None and not refusal.busy and refusal.free_millicents > 0:
            needed, body, refusal = await self._fit(user_id, reference, head, body, refusal, count)
        if refusal is not None:
            if refusal.busy:
                raise _too_many(self.max_open)
            raise _insufficient(needed, refusal.free_millicents)
        self._live.add(reference)
        return Admitted(reference, needed, body)

    async def _fit(
        self,
        user_id: uuid.UUID,
        reference: str,
        head: RequestHead,
        body: bytes,
        refusal: reservations.Refusal,
        count: Counter,
    ) -> tuple[int, bytes, reservations.Refusal | None]:
        """The call as it fits the credit left, if it can: exact input, then a smaller `max_tokens`."""
        exact = await count(call_bounds.count_tokens_body(body))
        input_tokens = min(exact, head.input_bound) if exact is not None else head.input_bound
        output = call_bounds.output_bound(head)
        needed = _worst(head, input_tokens, output)
        for _ in range(3):  # the credit left may shrink meanwhile: fit again to what is left now
            if needed > refusal.free_millicents:
                affordable = min(
                    output,
                    call_bounds.affordable_output(
                        head.model, input_tokens, refusal.free_millicents, long_cache=head.long_cache
                    ),
                )
                too_small = affordable < self.min_output
                thinking_left = head.thinking_budget is not None and affordable <= head.thinking_budget
                if too_small or thinking_left:
                    return needed, body, refusal
                output = affordable
                needed = _worst(head, input_tokens, output)
                body = call_bounds.with_max_tokens(body, output)
                log.info("llm_max_tokens_cut", reference=reference, max_tokens=output)
            refusal = await self._reserve(user_id, reference, needed, False)
            if refusal is None or refusal.busy or refusal.free_millicents <= 0:
                return needed, body, refusal
        return needed, body, refusal

    async def _reserve(
        self, user_id: uuid.UUID, reference: str, amount: int, own_key: bool
    ) -> reservations.Refusal | None:
        conn = await self._pool.acquire()
        try:
            # Not waiting for the hold's WAL flush: it sat in front of every call, and the settlement charges
            # with or without the hold (`credits.reservations`).
            return await reservations.reserve(
                conn, user_id, reference, amount, own_key=own_key, max_open=self.max_open, ttl=self.ttl, durable=False
            )
        finally:
            self._hand_back(conn)

    def _hand_back(self, conn: asyncpg.Connection) -> None:
        """asyncpg's release runs as a task of its own that the caller waits for: three turns of a busy event
        loop between the hold and the upstream request. Nothing after the statement needs the connection,
        so the call goes on and the release runs by itself (`close` waits for those still running)."""
        task = asyncio.get_running_loop().create_task(self._pool.release(conn))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _renew_forever(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            live = list(self._live)
            if not live:
                continue
            try:
                async with self._pool.acquire() as conn:
                    await reservations.renew(conn, live, self.ttl)
            except Exception:
                # The next round tries again; a reservation that expires meanwhile is charged in full.
                log.exception("llm_reservation_renewal_failed", calls=len(live))
