"""Sends the outbox through Twilio, in order per user."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.crypto import SecretBox
from yourclaw.settings import Settings


async def run_sender(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, stop: asyncio.Event
) -> None:
    await stop.wait()
