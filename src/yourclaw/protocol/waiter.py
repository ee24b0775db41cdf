"""Long polls waiting for a user's next inbound message. A waiting poll is one future in a dict keyed by
user: nothing else is held (no thread, no database connection), and a wake-up costs O(1) per poll woken."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from yourclaw.db import channels
from yourclaw.db.listener import Listener

log = structlog.get_logger(__name__)


class Wakeup:
    def __init__(self, future: asyncio.Future[bool]) -> None:
        self._future = future

    async def wait(self, timeout: float) -> bool:
        """True when woken for the user; False on timeout or on shutdown (answer at once, fetch nothing)."""
        if not self._future.done():
            # asyncio.wait, unlike wait_for, leaves the future alone on timeout.
            await asyncio.wait({self._future}, timeout=max(0.0, timeout))
        return self._future.done() and not self._future.cancelled() and self._future.result()


class InboundWaiter:
    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Future[bool]]] = {}
        self._newest: dict[uuid.UUID, object] = {}
        self._closed = False
        self._listener: Listener | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def attach(self, listener: Listener) -> None:
        """Be woken by the process's LISTEN connection; subscribe before the listener starts."""
        listener.subscribe(channels.USER_INBOUND, self.on_notification)
        self._listener = listener

    @property
    def listening(self) -> bool:
        """Notifications reach us now; while they do not, waiting polls look for themselves every so often."""
        return self._listener is not None and self._listener.connected

    def waiting(self, user_id: uuid.UUID | None = None) -> int:
        if user_id is not None:
            return len(self._waiting.get(user_id, ()))
        return sum(len(futures) for futures in self._waiting.values())

    @contextmanager
    def listen(self, user_id: uuid.UUID) -> Iterator[Wakeup]:
        """Register first, then look for messages, then wait: a wake-up that comes in between is kept."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_result(False)
        else:
            self._waiting.setdefault(user_id, set()).add(future)
        try:
            yield Wakeup(future)
        finally:
            futures = self._waiting.get(user_id)
            if futures is not None:
                futures.discard(future)
                if not futures:
                    del self._waiting[user_id]

    @contextmanager
    def poll(self, user_id: uuid.UUID) -> Iterator[Callable[[], bool]]:
        """One long poll for this user; yields "is it still the newest?". An assistant polls one request at a
        time, so an older poll still waiting is one its client gave up (the plugin's channel restarted on a
        config change, a connection dropped): it is woken to answer at once, or it would take the user's
        next message and answer a closed connection, leaving the message leased until the lease ran out."""
        ticket = object()
        self._newest[user_id] = ticket
        self.wake(user_id)
        try:
            yield lambda: self._newest.get(user_id) is ticket
        finally:
            if self._newest.get(user_id) is ticket:
                del self._newest[user_id]

    async def wait(self, user_id: uuid.UUID, timeout: float) -> bool:
        with self.listen(user_id) as wakeup:
            return await wakeup.wait(timeout)

    def wake(self, user_id: uuid.UUID) -> int:
        """Wake every poll waiting for this user; returns how many there were."""
        futures = self._waiting.pop(user_id, set())
        for future in futures:
            if not future.done():
                future.set_result(True)
        return len(futures)

    def on_notification(self, payload: str) -> None:
        """A message was queued for the user named in the payload (`channels.USER_INBOUND`)."""
        try:
            user_id = uuid.UUID(payload)
        except ValueError:
            log.warning("inbound_notification_ignored", reason="payload is not a user id")
            return
        self.wake(user_id)

    def shutdown(self) -> None:
        """Every waiting poll returns now, and later ones do not wait: the server is stopping."""
        self._closed = True
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for future in futures:
                if not future.done():
                    future.set_result(False)
