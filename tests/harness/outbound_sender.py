"""The outbox's sender run in the test's loop against the local Twilio stand-in: settings pointing the real
twilio SDK at it, and senders (each with its own engine, as separate processes would have) stopped gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.harness.settings import make_settings
from yourclaw.db.engine import make_engine, make_sessionmaker
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.messaging.outbound.sender import Tuning, run_sender
from yourclaw.standins.twilio import TwilioStandin

TEMPLATE_SID = "HX" + "1" * 32
FAST = Tuning(retry_base=0.05, retry_cap=0.3)


def sender_settings(database_url: str, standin: TwilioStandin, **overrides: str) -> Settings:
    env = {
        "TWILIO_ACCOUNT_SID": standin.account_sid,
        "TWILIO_AUTH_TOKEN": standin.auth_token,
        "TWILIO_API_BASE_URL": standin.base_url,
        "TWILIO_TEMPLATE_CONTENT_SID": TEMPLATE_SID,
        "TWILIO_TEMPLATE_VARIABLES": '{"1": "You have a message waiting"}',
        "QUIET_HOURS": "off",
        "WORKER_POLL_INTERVAL": "0.5",
    }
    env.update(overrides)
    return make_settings(database_url, **env)


@asynccontextmanager
async def senders(settings: Settings, count: int = 1, tuning: Tuning = FAST) -> AsyncIterator[list[asyncio.Task]]:
    """`count` senders, each with its own engine (as separate processes would have), stopped gracefully."""
    stop = asyncio.Event()
    engines = [make_engine(settings.database_url or "", pool_size=5) for _ in range(count)]
    box = SecretBox(settings.fernet_keys)
    tasks = [asyncio.create_task(run_sender(settings, make_sessionmaker(e), box, stop, tuning=tuning)) for e in engines]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for engine in engines:
            await engine.dispose()
