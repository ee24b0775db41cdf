"""Routes stored inbound messages: verification, refusals with a reply, or the user's assistant queue.

Woken by NOTIFY on `yourclaw_inbound` (its own asyncpg connection) and scanning every
WORKER_POLL_INTERVAL seconds regardless, so a lost notification costs seconds, never a message.
Several routers are safe: each takes the oldest unrouted message of each sender with SKIP LOCKED.
One message that fails stays local: the rest of its batch goes on, and after WORKER_MAX_ATTEMPTS
failures it is refused (detail INTERNAL) rather than retried for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.credits import ledger as credits
from yourclaw.db import channels
from yourclaw.db.engine import transaction
from yourclaw.db.models import InboundMessage
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.messaging import notices
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.inbound import routing
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.observability.metrics import CREDIT_REFUSALS, ROUTER_LAG_SECONDS

log = structlog.get_logger(__name__)

BATCH_SIZE = 20
FORGET_FAILURES_AFTER = 600.0


@dataclass(frozen=True)
class Claimed:
    """A plain copy of the row: a failed savepoint may expire the ORM object."""

    id: uuid.UUID
    from_phone: str
    body: str
    profile_name: str | None
    media: list
    received_at: datetime
    button_payload: str | None = None

    @classmethod
    def of(cls, row: InboundMessage) -> Claimed:
        media = list(row.media or [])
        return cls(row.id, row.from_phone, row.body or "", row.profile_name, media, row.received_at, row.button_payload)

    @property
    def audit_body(self) -> str:
        """What the conversation view shows; a photo alone still shows as something."""
        if self.body.strip() or not self.media:
            return self.body
        count = len(self.media)
        return f"[{count} attachment{'s' if count != 1 else ''}]"


def _plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class InboundRouter:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.limits = routing.Limits(settings.rate_limit_msg_per_min, settings.rate_limit_msg_per_day)
        # Message id -> (failures so far, monotonic time before which it is not retried).
        self.failures: dict[uuid.UUID, tuple[int, float]] = {}
        self._wake = asyncio.Event()

    # --- one message ---------------------------------------------------------------------------

    async def route(self, session: AsyncSession, message: Claimed) -> routing.Outcome:
        code = routing.link_code(message.body)
        if code is not None:
            outcome, user_id = await self._link(session, message, code)
        else:
            facts = await repo.sender_facts(session, message.from_phone, message.received_at - routing.DAY)
            if facts is None:
                outcome, user_id = routing.unknown_sender(message.received_at, self.settings.app_url), None
            else:
                user_id = facts.user_id
                sender = routing.Sender(
                    user_id=user_id,
                    assistant_status=facts.assistant_status,
                    queued_at=facts.queued_at,
                    can_spend=credits.decide(own_key=facts.own_key, current=facts.balance).allowed,
                )
                show_held = message.button_payload == self.settings.twilio_template_button_payload
                outcome = routing.decide(
                    message.body, message.received_at, sender, self.limits, self.settings.app_url, show_held=show_held
                )

        if outcome.opt_out is not None and user_id is not None:
            await repo.set_opted_out(session, user_id, outcome.opt_out)
        queued_body = message.audit_body if outcome.status == "QUEUED" and user_id is not None else None
        # What the user wrote before their assistant could take it still belongs to their conversation.
        in_conversation = outcome.detail in routing.IN_CONVERSATION_NOT_QUEUED
        audit_body = message.audit_body if in_conversation and user_id is not None else None
        await repo.settle(
            session, message.id, outcome.status, outcome.detail, user_id, queued_body=queued_body, audit_body=audit_body
        )
        if outcome.reply is not None:
            await enqueue_whatsapp(
                session,
                user_id,
                outcome.reply.text,
                "system",
                to_phone=None if user_id is not None else message.from_phone,
                dedupe_key=outcome.reply.dedupe_key,
            )
        ROUTER_LAG_SECONDS.observe(max(0.0, (datetime.now(UTC) - message.received_at).total_seconds()))
        if outcome.detail == routing.NO_CREDITS:
            CREDIT_REFUSALS.labels("router").inc()
        log.info("inbound_routed", message_id=str(message.id), status=outcome.status, detail=outcome.detail)
        return outcome

    async def _link(
        self, session: AsyncSession, message: Claimed, code: str
    ) -> tuple[routing.Outcome, uuid.UUID | None]:
        pending = await repo.pending_with_code(session, message.from_phone, code)
        owner = await repo.verified_phone(session, message.from_phone)
        number_owner = owner.user_id if owner is not None else None
        result = routing.link_result(
            code_owner=pending.user_id if pending is not None else None,
            # Judged when the person sent it: a slow router must not expire a code sent in time.
            code_expired=pending is not None
            and (pending.code_expires_at is None or pending.code_expires_at <= message.received_at),
            number_owner=number_owner,
        )
        user_id = number_owner
        if result is routing.LinkResult.VERIFIED and pending is not None:
            try:
                async with session.begin_nested():
                    await repo.mark_verified(
                        session, pending.id, wrote_at=message.received_at, profile_name=message.profile_name
                    )
                user_id = pending.user_id
            except IntegrityError:
                # Someone verified this number between our read and our write (unique among verified).
                result = routing.LinkResult.PHONE_TAKEN
                owner = await repo.verified_phone(session, message.from_phone)
                user_id = owner.user_id if owner is not None else None
        outcome = routing.link_outcome(
            result, code, message.received_at, self.settings.app_url, has_account=user_id is not None
        )
        return outcome, user_id

    # --- batches ---------------------------------------------------------------------------------

    def _backing_off(self) -> set[uuid.UUID]:
        now = time.monotonic()
        # Another router may have finished a message that failed here: forget it after a while.
        forget_before = now - FORGET_FAILURES_AFTER
        self.failures = {k: v for k, v in self.failures.items() if v[1] > forget_before}
        return {message_id for message_id, (_, retry_at) in self.failures.items() if retry_at > now}

    async def _failed(self, session: AsyncSession, message: Claimed) -> None:
        count = self.failures.get(message.id, (0, 0.0))[0] + 1
        if count < self.settings.worker_max_attempts:
            self.failures[message.id] = (count, time.monotonic() + self.settings.worker_poll_interval)
            return
        self.failures.pop(message.id, None)
        async with session.begin_nested():
            await repo.refuse_unroutable(session, message.id)
        log.error("inbound_refused_after_failures", message_id=str(message.id), attempts=count)

    async def route_batch(self) -> int:
        """Routes up to BATCH_SIZE sender heads in one transaction; returns how many were taken."""
        async with transaction(self.sessions) as session:
            rows = await repo.claim_heads(session, BATCH_SIZE, self._backing_off())
            for message in [Claimed.of(row) for row in rows]:
                try:
                    async with session.begin_nested():
                        await self.route(session, message)
                    self.failures.pop(message.id, None)
                except Exception as exc:  # noqa: BLE001  (one bad message never stops the batch)
                    log.exception("inbound_route_failed", message_id=str(message.id), error=type(exc).__name__)
                    await self._failed(session, message)
        return len(rows)

    async def drain(self) -> None:
        # A message that just failed is backing off, so this ends even when every head fails.
        while await self.route_batch():
            pass

    async def send_waiting_notices(self) -> int:
        """One notice per user per wait when the assistant is not taking their messages."""
        if self.settings.not_ready_notice_seconds <= 0:
            return 0
        older_than = timedelta(seconds=self.settings.not_ready_notice_seconds)
        sent = 0
        async with transaction(self.sessions) as session:
            for user_id, message_id in await repo.waiting_too_long(
                session, older_than, dedupe_prefix=routing.STILL_WAITING_PREFIX
            ):
                key = routing.still_waiting_key(message_id)
                if await enqueue_whatsapp(session, user_id, notices.still_waiting(), "system", dedupe_key=key):
                    sent += 1
        return sent

    # --- the loop --------------------------------------------------------------------------------

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keeps one LISTEN connection; while it is down the periodic scan carries on alone."""
        dsn = _plain_dsn(self.settings.database_url or "")
        while not stop.is_set():
            conn = None
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(dsn)
                conn.add_termination_listener(lambda *_, event=lost: event.set())
                await conn.add_listener(channels.INBOUND, lambda *_: self._wake.set())
                # Whatever arrived while we were not listening is found by this scan.
                self._wake.set()
                await _first(stop.wait(), lost.wait())
            except Exception as exc:  # noqa: BLE001  (retried; the periodic scan covers the gap)
                log.warning("router_listen_failed", error=type(exc).__name__)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            if not stop.is_set():
                await _first(stop.wait(), asyncio.sleep(self.settings.worker_poll_interval))

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.drain()
                    await self.send_waiting_notices()
                except Exception as exc:  # noqa: BLE001  (a failed pass is retried at the next scan)
                    log.exception("router_pass_failed", error=type(exc).__name__)
                await _first(stop.wait(), self._wake.wait(), timeout=self.settings.worker_poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def _first(*waits, timeout: float | None = None) -> None:
    """Returns when any of the awaitables finishes (or at the timeout), cancelling the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_router(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, stop: asyncio.Event
) -> None:
    await InboundRouter(settings, sessions).run(stop)
