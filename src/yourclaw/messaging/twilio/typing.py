"""WhatsApp's typing indicator through Twilio (`POST /v2/Indicators/Typing.json` on messaging.twilio.com,
with the inbound MessageSid and channel=whatsapp): it lasts up to 25 s or until a reply, and marks the message
read. Made through the twilio SDK in worker threads, bounded, each thread with its own client (the SDK's HTTP
session is not meant to be shared between threads)."""

from __future__ import annotations

import queue

import anyio
from twilio.rest import Client

from yourclaw.kit.settings import Settings
from yourclaw.messaging.twilio.client import TwilioNotConfigured, make_twilio_client

# Indicators in flight at once; each is one short request.
CONCURRENCY = 4
# An indicator later than this is worthless: the SDK's own timeout is longer.
TYPING_TIMEOUT = 5.0


class TwilioTyping:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._limiter = anyio.CapacityLimiter(CONCURRENCY)
        self._clients: queue.SimpleQueue[Client] = queue.SimpleQueue()

    def _show(self, message_sid: str) -> None:
        try:
            client = self._clients.get_nowait()
        except queue.Empty:
            client = make_twilio_client(self._settings, timeout=TYPING_TIMEOUT)
        try:
            client.messaging.v2.typing_indicator.create(channel="whatsapp", message_id=message_sid)
        finally:
            self._clients.put(client)

    async def __call__(self, message_sid: str) -> None:
        await anyio.to_thread.run_sync(self._show, message_sid, limiter=self._limiter, abandon_on_cancel=True)


def twilio_typing(settings: Settings) -> TwilioTyping | None:
    """None when typing is off or Twilio is not configured (nothing to show it through). Under MOCK_TWILIO the
    stand-in runs in the worker, not here: this process must not reach the real Twilio instead."""
    if not settings.typing_indicator or (settings.mock_twilio and not settings.twilio_api_base_url):
        return None
    try:
        make_twilio_client(settings)
    except TwilioNotConfigured:
        return None
    return TwilioTyping(settings)
