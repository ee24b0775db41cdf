"""WhatsApp's "typing…" while the assistant works on a message: shown when the message is handed out, shown
again while its lease is renewed (the plugin renews every few seconds; Twilio's indicator lasts up to 25 s or
until a reply goes out). Sent in the background: a slow or failing Twilio never delays the message, the poll
or the renewal. How it reaches Twilio is messaging's business (`messaging.twilio.typing`): protocol only says
when."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from litestar.di import NamedDependency

log = structlog.get_logger(__name__)

# Shows waiting to reach Twilio at once; past this a show is dropped (it is only a courtesy).
MAX_PENDING = 64
# Messages remembered for renewal; the oldest are forgotten first.
MAX_REMEMBERED = 4096

ShowTyping = Callable[[str], Awaitable[None]]


class Typing:
    """Decides when to show the indicator, and shows it without anyone waiting. `send` is None when typing is
    off or Twilio is not configured."""

    def __init__(self, send: ShowTyping | None, *, renew_after: float, clock: Callable[[], float] = time.monotonic):
        self._send = send
        self._renew_after = renew_after
        self._clock = clock
        self._shown: dict[uuid.UUID, float] = {}
        self._pending: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return self._send is not None

    def handed_out(self, message_id: uuid.UUID, message_sid: str) -> None:
        """A (re)delivery: the turn starts now, so the indicator goes up now."""
        self._show(message_id, message_sid)

    def renewed(self, message_id: uuid.UUID, message_sid: str) -> None:
        """The turn still runs: shown again once the last one is close to lapsing. A message this process never
        showed (its poll landed on another process) counts as due."""
        shown = self._shown.get(message_id)
        if shown is not None and self._clock() - shown < self._renew_after:
            return
        self._show(message_id, message_sid)

    def finished(self, message_id: uuid.UUID) -> None:
        self._shown.pop(message_id, None)

    def _show(self, message_id: uuid.UUID, message_sid: str) -> None:
        if self._send is None or not message_sid:
            return
        self._shown.pop(message_id, None)
        self._shown[message_id] = self._clock()
        while len(self._shown) > MAX_REMEMBERED:
            self._shown.pop(next(iter(self._shown)))
        if len(self._pending) >= MAX_PENDING:
            log.warning("typing_indicator_skipped", reason="too many pending")
            return
        task = asyncio.get_running_loop().create_task(self._deliver(message_sid))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, message_sid: str) -> None:
        assert self._send is not None
        try:
            await self._send(message_sid)
        except Exception as exc:  # noqa: BLE001 - a courtesy: whatever went wrong, the message goes on
            log.warning("typing_indicator_failed", error=type(exc).__name__)

    async def drain(self) -> None:
        """Waits for the shows in flight (tests, and a clean shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await self.drain()


# Routes get the process's one `Typing` under this name.
TypingDep = NamedDependency[Typing]
