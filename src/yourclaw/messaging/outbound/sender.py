"""Sends the outbox through Twilio: one recipient's messages strictly in order, recipients in parallel,
several sender processes side by side.

- Claim: a recipient is served by whoever holds its Postgres advisory lock (`pg_try_advisory_lock`, which
  skips a recipient another sender holds, as SKIP LOCKED skips a row). A row lock cannot be kept across
  the commit after each part; the advisory lock lives as long as the connection, so a sender that dies
  (even SIGKILL) lets go of its recipients at once.
- Nothing twice: before each Twilio call the row is marked SENDING and committed; after it, the part's sid
  is committed. A row found SENDING had a call whose answer we never saw (a crash, a timeout, a 5xx), so
  Twilio is asked what it has for that number before anything is sent again.
- Wake-ups: LISTEN on the outbox channel (own connection), plus a scan every WORKER_POLL_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from yourclaw.db import channels
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings, SettingsError
from yourclaw.messaging.outbound import limits
from yourclaw.messaging.outbound import repository as repo
from yourclaw.messaging.outbound.delivery_policy import Action, Facts, decide, parse_quiet_hours
from yourclaw.messaging.outbound.repository import Head, Recipient
from yourclaw.messaging.outbound.splitting import split_message
from yourclaw.messaging.twilio.client import TwilioNotConfigured, make_twilio_client
from yourclaw.messaging.twilio.webhooks import STATUS_PATH
from yourclaw.observability.metrics import TWILIO_SEND_ERRORS
from yourclaw.protocol.media_urls import signed_url

log = structlog.get_logger(__name__)

WINDOW_REFUSED = 63016
# How far back Twilio's list is searched for a send whose answer was lost, and how many it returns.
LOOKUP_WINDOW = timedelta(hours=24)
LOOKUP_LIMIT = 50
BUSY = object()  # another sender holds the recipient


@dataclass(frozen=True)
class Tuning:
    concurrency: int = 4  # recipients served at once by one process (each holds a connection)
    retry_base: float = 1.0
    retry_cap: float = 300.0
    max_attempts: int = 12  # about twenty minutes of Twilio failing before a message is given up
    scan_interval: float | None = None  # default WORKER_POLL_INTERVAL

    def backoff(self, attempts: int) -> float:
        return min(self.retry_cap, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)


async def run_sender(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    stop: asyncio.Event,
    *,
    tuning: Tuning | None = None,
) -> None:
    try:
        sender = Sender(settings, sessions.kw["bind"], tuning or Tuning())
        await sender.run(stop)
    except TwilioNotConfigured as exc:
        log.error("sender_disabled", reason=str(exc))
        await stop.wait()


def _template_defaults(settings: Settings) -> dict[str, str] | None:
    if not settings.twilio_template_variables:
        return None
    try:
        values = json.loads(settings.twilio_template_variables)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise SettingsError('TWILIO_TEMPLATE_VARIABLES: expected a JSON object such as {"1": "..."}')
    return {str(k): str(v) for k, v in values.items()}


class Sender:
    def __init__(self, settings: Settings, engine: AsyncEngine, tuning: Tuning) -> None:
        self.settings = settings
        self.engine = engine
        # Which process sent what, in the logs: several senders may run.
        self.name = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
        self.log = log.bind(sender=self.name)
        self.tuning = tuning
        try:
            self.quiet_hours = parse_quiet_hours(settings.quiet_hours)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        self.template_vars = _template_defaults(settings)
        self.status_url = settings.api_url.rstrip("/") + STATUS_PATH
        # The SDK's HTTP session is not meant to be shared between threads: one client per concurrent send.
        self._clients: asyncio.Queue[Client] = asyncio.Queue()
        for _ in range(tuning.concurrency):
            self._clients.put_nowait(make_twilio_client(settings))
        self._wake = asyncio.Event()
        self._soonest: float | None = None

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        interval = self.tuning.scan_interval or self.settings.worker_poll_interval
        listener = asyncio.create_task(self._listen(stop, interval))
        active: dict[Recipient, asyncio.Task] = {}

        # Recipients not to try again before a time: held by another sender, or failing here. Without
        # this a recipient another process is busy with would be retried in a tight loop.
        resting: dict[Recipient, float] = {}

        def finished(recipient: Recipient, task: asyncio.Task) -> None:
            active.pop(recipient, None)
            if task.cancelled():
                return
            if (error := task.exception()) is not None:
                self.log.error("sender_recipient_failed", error=type(error).__name__, detail=str(error)[:200])
                resting[recipient] = loop.time() + interval
            elif (result := task.result()) is BUSY:
                resting[recipient] = loop.time() + interval
                return  # nothing changed here: no reason to scan again now
            elif result is not None:
                due = loop.time() + result
                self._soonest = due if self._soonest is None else min(self._soonest, due)
            self._wake.set()

        try:
            while not stop.is_set():
                self._wake.clear()
                now = loop.time()
                if self._soonest is not None and self._soonest <= now:
                    self._soonest = None
                for recipient in [r for r, until in resting.items() if until <= now]:
                    del resting[recipient]
                ready: list[Recipient] = []
                if len(active) < self.tuning.concurrency:
                    try:
                        async with self.engine.connect() as conn:
                            ready = await repo.ready_recipients(conn, limit=self.tuning.concurrency * 4)
                    except (OSError, DBAPIError, OperationalError) as exc:
                        self.log.warning("sender_scan_failed", error=type(exc).__name__)
                for recipient in ready:
                    if recipient in active or recipient in resting or len(active) >= self.tuning.concurrency:
                        continue
                    task = asyncio.create_task(self._serve(recipient, stop))
                    active[recipient] = task
                    task.add_done_callback(lambda t, r=recipient: finished(r, t))
                timeout = interval
                if self._soonest is not None:
                    timeout = max(0.0, min(timeout, self._soonest - loop.time()))
                await _first(self._wake, stop, timeout=timeout)
        finally:
            # Each recipient stops after the part it is sending: nothing is left half-known.
            if active:
                await asyncio.gather(*active.values(), return_exceptions=True)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self, stop: asyncio.Event, retry: float) -> None:
        dsn = (self.settings.database_url or "").replace("postgresql+asyncpg://", "postgresql://", 1)
        while not stop.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                await conn.add_listener(channels.OUTBOX, lambda *_: self._wake.set())
                self._wake.set()  # anything queued while we were not listening
                while not stop.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), retry)
            except (OSError, asyncpg.PostgresError) as exc:
                self.log.warning("sender_listen_failed", error=type(exc).__name__)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)

    # --- one recipient ----------------------------------------------------------------------------

    async def _serve(self, recipient: Recipient, stop: asyncio.Event) -> float | object | None:
        """Sends the recipient's due messages in order. Returns BUSY if another sender has them, else in
        how many seconds to look again when a retry is waiting (None: nothing to wait for)."""
        async with self.engine.connect() as conn:
            if not await repo.try_lock(conn, recipient):
                return BUSY
            client = await self._clients.get()
            try:
                refused: set[int] = set()
                while not stop.is_set():
                    head = await repo.head(conn, recipient)
                    if head is None or head.phone is None:
                        return None
                    if head.next_attempt_at is not None and head.next_attempt_at > head.now:
                        return (head.next_attempt_at - head.now).total_seconds()
                    if head.status == "HELD" and not _user_wrote_since(head):
                        return None
                    await self._step(conn, client, recipient, head, refused)
                return None
            finally:
                self._clients.put_nowait(client)
                try:
                    await conn.rollback()
                    await repo.unlock(conn, recipient)
                except BaseException:
                    # A pooled connection must never keep a recipient's lock: close it instead.
                    await conn.invalidate()
                    raise

    async def _step(
        self, conn: AsyncConnection, client: Client, recipient: Recipient, head: Head, refused: set[int]
    ) -> None:
        parts = split_message(head.body)
        if head.status == "SENDING":
            if await self._reconcile(conn, client, recipient, head, parts, refused):
                return
        decision = decide(self._facts(recipient, head, parts, window_refused=head.id in refused))
        bound = self.log.bind(outbox_id=head.id, kind=head.kind, part=head.parts_sent, parts=len(parts))
        match decision.action:
            case Action.DROP_OPTED_OUT:
                bound.info("outbox_dropped", reason=decision.reason)
                await repo.finish(conn, head.id, "CANCELED", decision.reason)
            case Action.HOLD_UNTIL:
                bound.info("outbox_deferred", until=decision.until.isoformat(), reason=decision.reason)
                await limits.hold(conn, self.settings, head, decision)
            case Action.WAIT_FOR_REPLY:
                bound.info("outbox_waiting_for_reply", reason=decision.reason)
                await repo.wait_for_reply(conn, head.id, decision.reason)
            case Action.SEND_TEMPLATE:
                await self._send(conn, client, head, parts, refused, template=True)
            case Action.SEND_FREEFORM:
                await self._send(conn, client, head, parts, refused, template=False)

    def _facts(self, recipient: Recipient, head: Head, parts: list[str], *, window_refused: bool = False) -> Facts:
        return limits.facts_for(
            self.settings, self.quiet_hours, recipient, head, parts=len(parts), window_refused=window_refused
        )

    async def _send(
        self,
        conn: AsyncConnection,
        client: Client,
        head: Head,
        parts: list[str],
        refused: set[int],
        *,
        template: bool,
    ) -> None:
        request: dict[str, object] = {
            "to": f"whatsapp:{head.phone}",
            "from_": self.settings.twilio_whatsapp_number,
            "status_callback": self.status_url,
        }
        if template:
            variables = head.template_vars or self.template_vars or {}
            request["content_sid"] = head.template or self.settings.twilio_template_content_sid
            request["content_variables"] = json.dumps(variables)
            body = "[template] " + " | ".join(str(v) for v in variables.values())
        else:
            body = _visible(parts[head.parts_sent])
            request["body"] = body
            if head.media_id is not None and head.parts_sent == 0:
                ttl = self.settings.media_url_ttl_seconds
                request["media_url"] = [signed_url(self.settings, head.media_id, ttl)]
        bound = self.log.bind(outbox_id=head.id, kind=head.kind, part=head.parts_sent, template=template)
        await repo.mark_in_flight(conn, head.id)
        try:
            message = await asyncio.to_thread(client.messages.create, **request)
        except Exception as exc:  # noqa: BLE001  (every failure is classified; none may stop the sender)
            await self._failed(conn, head, exc, refused, template=template, bound=bound)
            return
        if template:
            await repo.record_template(conn, head, message.sid, body, message.status)
            bound.info("outbox_template_sent", twilio_sid=message.sid)
            return
        first_proactive = head.kind == "proactive" and head.parts_sent == 0
        recorded = await repo.record_part(
            conn, head, message.sid, body, len(parts), message.status, first_contact_proactive=first_proactive
        )
        if not recorded:
            bound.error("outbox_part_not_recorded", twilio_sid=message.sid)
        bound.info("outbox_part_sent", twilio_sid=message.sid)

    async def _failed(
        self,
        conn: AsyncConnection,
        head: Head,
        exc: Exception,
        refused: set[int],
        *,
        template: bool,
        bound,
        lookup: bool = False,
    ) -> None:
        TWILIO_SEND_ERRORS.labels(
            str(exc.code) if isinstance(exc, TwilioRestException) and exc.code is not None else "none"
        ).inc()
        if lookup:
            error = f"could not ask Twilio what it has ({type(exc).__name__})"
            retry, maybe_sent = True, True
        elif isinstance(exc, TwilioRestException):
            error = f"Twilio {exc.status} (code {exc.code}): {str(exc.msg)[:300]}"
            if exc.code == WINDOW_REFUSED and not template and head.user_id is not None:
                bound.info("outbox_window_refused")
                refused.add(head.id)
                await repo.release(conn, head.id)
                return
            # 429 and our own credentials being refused say nothing about the message: try again.
            retry = exc.status in (401, 429) or exc.status >= 500
            maybe_sent = exc.status >= 500
        else:
            # No answer (a timeout, a dropped connection): the message may or may not have gone.
            error = f"no answer from Twilio ({type(exc).__name__})"
            retry, maybe_sent = True, True
        attempts = head.attempts + 1
        if not retry or attempts >= self.tuning.max_attempts:
            if retry:
                error = f"gave up after {attempts} attempts; last: {error}"
            bound.warning("outbox_failed", error=error)
            await repo.finish(conn, head.id, "FAILED", error)
            return
        delay = self.tuning.backoff(attempts)
        bound.warning("outbox_retry", error=error, attempts=attempts, delay=round(delay, 2))
        await repo.retry_later(conn, head.id, attempts=attempts, delay=delay, error=error, maybe_sent=maybe_sent)

    async def _reconcile(
        self,
        conn: AsyncConnection,
        client: Client,
        recipient: Recipient,
        head: Head,
        parts: list[str],
        refused: set[int],
    ) -> bool:
        """The row was left SENDING: did that call reach Twilio? Adopts what Twilio has (its sid is
        recorded as if the answer had come) or releases the row to be sent. True if the row changed."""
        since = head.now - LOOKUP_WINDOW
        known = await repo.known_sids(conn, recipient, head.phone, since)
        try:
            listed = await asyncio.to_thread(
                client.messages.list,
                to=f"whatsapp:{head.phone}",
                from_=self.settings.twilio_whatsapp_number,
                limit=LOOKUP_LIMIT,
            )
        except Exception as exc:  # noqa: BLE001  (whatever it is, the question stays open: ask again later)
            bound = self.log.bind(outbox_id=head.id)
            await self._failed(conn, head, exc, refused, template=False, bound=bound, lookup=True)
            return True
        unknown = [m for m in reversed(listed) if m.sid not in known and (m.date_created or since) >= since]
        if head.parts_sent < len(parts):
            expected = _visible(parts[head.parts_sent]).strip()
            found = next((m for m in unknown if (m.body or "").strip() == expected), None)
            if found is not None:
                first_proactive = head.kind == "proactive" and head.parts_sent == 0
                await repo.record_part(
                    conn, head, found.sid, expected, len(parts), found.status, first_contact_proactive=first_proactive
                )
                self.log.info("outbox_part_recovered", outbox_id=head.id, part=head.parts_sent, twilio_sid=found.sid)
                return True
        if unknown and decide(self._facts(recipient, head, parts)).action is Action.SEND_TEMPLATE:
            message = unknown[-1]
            await repo.record_template(conn, head, message.sid, message.body or "[template]", message.status)
            self.log.info("outbox_template_recovered", outbox_id=head.id, twilio_sid=message.sid)
            return True
        await repo.release(conn, head.id)
        return False


def _visible(part: str) -> str:
    """The whitespace a cut left at a part's ends is not sent (a blank part, however unlikely, is)."""
    return part.strip() or part


def _user_wrote_since(head: Head) -> bool:
    return head.held_since is not None and head.last_inbound_at is not None and head.last_inbound_at > head.held_since


async def _first(event: asyncio.Event, stop: asyncio.Event, *, timeout: float) -> None:
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
