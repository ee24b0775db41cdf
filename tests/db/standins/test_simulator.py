"""The dashboard's WhatsApp simulator: registered only with MOCK_TWILIO in development, it posts a correctly signed
Twilio webhook over HTTP from the signed-in user's own number, so the message is stored like a real one."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.settings import make_settings
from yourclaw.db.models import InboundMessage

pytestmark = pytest.mark.db

PHONE = "+14155552671"


async def _cookie_session(client: httpx.AsyncClient) -> str:
    token = (await client.post("/api/v1/dev/login", json={"email": "sim@example.com"})).json()["access_token"]
    session = await client.post("/api/v1/session", json={"access_token": token})
    assert session.status_code == 200, session.text
    return session.json()["csrf_token"]


async def test_simulator_posts_a_signed_webhook_from_the_users_number(database_url, sessions, engine):
    port = free_port()
    settings = make_settings(
        database_url, API_URL=f"http://127.0.0.1:{port}", MOCK_TWILIO="true", TWILIO_AUTH_TOKEN="sim-auth-token"
    )
    async with LiveServer(settings, port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            headers = {"X-CSRF-Token": await _cookie_session(client)}
            assert (await client.get("/api/v1/config")).json()["simulator"] is True
            no_phone = await client.post("/api/v1/dev/simulator/messages", json={"text": "hi"}, headers=headers)
            assert no_phone.status_code == 409 and no_phone.json()["code"] == "NO_PHONE"

            phone = (await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers=headers)).json()
            message = phone["verification"]["message"]
            no_csrf = await client.post("/api/v1/dev/simulator/messages", json={"text": message})
            assert no_csrf.status_code == 403
            empty = await client.post("/api/v1/dev/simulator/messages", json={"text": "  "}, headers=headers)
            assert empty.status_code == 422 and empty.json()["code"] == "INVALID_TEXT"

            sent = await client.post("/api/v1/dev/simulator/messages", json={"text": message}, headers=headers)
            assert sent.status_code == 202, sent.text
            assert sent.json()["from_phone"] == PHONE and sent.json()["verified"] is False

    async with sessions() as session:
        stored = (await session.scalars(select(InboundMessage))).all()
    assert [(m.from_phone, m.body, m.message_sid) for m in stored] == [(PHONE, message, sent.json()["message_sid"])]
    from tests.harness.database import truncate

    await truncate(engine)


async def test_no_simulator_in_production_settings(database_url, engine):
    settings = make_settings(database_url, MOCK_TWILIO="true", YOURCLAW_ENV="production")
    from yourclaw.standins import api_handlers

    assert api_handlers(settings) == []
    development = make_settings(database_url, MOCK_TWILIO="true")
    assert [h.__name__ for h in api_handlers(development)] == ["SimulatorController"]
