"""The API on a real port with the Google stand-in behind it, and assistants with their tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness.live_server import LiveServer
from tests.harness.settings import make_settings
from yourclaw.standins.google import GoogleStandin


@pytest.fixture
async def google() -> AsyncIterator[GoogleStandin]:
    standin = GoogleStandin()
    standin.start()
    yield standin
    standin.stop()


def google_settings(database_url: str, google: GoogleStandin, **overrides: str):
    return make_settings(
        database_url,
        GOOGLE_CLIENT_ID=google.client_id,
        GOOGLE_CLIENT_SECRET=google.client_secret,
        GOOGLE_AUTH_BASE_URL=google.base_url,
        GOOGLE_TOKEN_BASE_URL=google.base_url,
        GOOGLE_API_BASE_URL=google.base_url,
        **overrides,
    )


@pytest.fixture
async def live(database_url, google) -> AsyncIterator[LiveServer]:
    from tests.harness.ports import free_port

    port = free_port()
    settings = google_settings(
        database_url, google, API_URL=f"http://127.0.0.1:{port}", GOOGLE_TOOL_CALLS_PER_MINUTE="8"
    )
    async with LiveServer(settings, port=port) as server:
        yield server


@pytest.fixture
async def api(live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield client
