"""The assistant protocol from an assistant's side, against the app served in the test's own loop (a test can
act while a poll waits): owners with their token, messages queued as the router leaves them, polls and acks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from cryptography.fernet import Fernet
from litestar import Litestar
from sqlalchemy import func, select

from tests.harness.app_lifespan import running
from tests.harness.rows import make_assistant
from tests.harness.waiting import wait_for
from yourclaw.db import channels
from yourclaw.db.models import InboundMessage
from yourclaw.kit.crypto import SecretBox
from yourclaw.server.app import create_app
from yourclaw.server.state import AppState

INBOUND = "/api/v1/runtime/inbound"


@dataclass
class Served:
    app: Litestar
    http: httpx.AsyncClient
    state: AppState


@asynccontextmanager
async def serve(settings) -> AsyncIterator[Served]:
    """The app with its lifespan (so its LISTEN connection) in the test's own loop: a test can act while
    a poll waits."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as http:
        state = app.state.app_state
        await wait_for(lambda: state.listener.connected, message="the LISTEN connection")
        yield Served(app, http, state)


@dataclass
class Owner:
    user_id: uuid.UUID
    assistant_id: uuid.UUID
    token: str
    headers: dict[str, str] = field(default_factory=dict)


async def make_owner(sessions, email: str | None = None) -> Owner:
    user_id, assistant_id, token = await make_assistant(
        sessions, SecretBox([Fernet.generate_key().decode()]), email=email
    )
    return Owner(user_id, assistant_id, token, {"Authorization": f"Bearer {token}"})


async def queue_message(
    sessions, user_id: uuid.UUID, text: str, *, media: list[dict] | None = None, notify: bool = True
) -> uuid.UUID:
    """As the router leaves a message: QUEUED for the user, then the notification (delivered at commit)."""
    async with sessions() as s:
        row = InboundMessage(
            user_id=user_id,
            message_sid="SM" + uuid.uuid4().hex,
            from_phone="+15550001111",
            body=text,
            media=media or [],
            status="QUEUED",
            received_at=datetime.now(UTC),
            routed_at=datetime.now(UTC),
        )
        s.add(row)
        await s.flush()
        if notify:
            await s.execute(select(func.pg_notify(channels.USER_INBOUND, str(user_id))))
        await s.commit()
        return row.id


async def inbound_row(sessions, message_id: uuid.UUID) -> InboundMessage:
    async with sessions() as s:
        return await s.scalar(select(InboundMessage).where(InboundMessage.id == message_id))


def poll_headers(owner: Owner, instance: str = "inst-a", generation: int = 1) -> dict[str, str]:
    return owner.headers | {"X-Config-Generation": str(generation), "X-Instance-Id": instance}


async def poll(http: httpx.AsyncClient, owner: Owner, *, wait: float = 0, instance: str = "inst-a") -> httpx.Response:
    return await http.get(INBOUND, params={"wait": wait}, headers=poll_headers(owner, instance))


async def ack(http: httpx.AsyncClient, owner: Owner, message_id: object) -> httpx.Response:
    return await http.post(f"{INBOUND}/{message_id}/ack", headers=owner.headers)


def only_message(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    (message,) = response.json()["messages"]
    return message
