"""What keeps the LLM proxy's callers right: the tables behind a caller notify each committed change, and a
live proxy acts on them at once (a revoked token, a new own key, a balance used up), reads the database
again after losing its notification connection, and never serves a token past its expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from tests.harness.live_server import LiveServer
from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.db import channels
from yourclaw.db.models import AssistantToken
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import callers
from yourclaw.llm.own_keys import repository as api_keys_repository
from yourclaw.protocol import tokens
from yourclaw.protocol.tokens import hash_token
from yourclaw.standins.anthropic import AnthropicStandin

pytestmark = pytest.mark.db

SHARED_KEY = "sk-ant-shared-" + "S" * 40
OWN_KEY = "sk-ant-api03-" + "o" * 60 + "wxyz"
MESSAGES = "/llm/anthropic/v1/messages"
BODY = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


async def test_the_tables_behind_a_caller_notify_each_change_as_it_commits(database_url, db, sessions):
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    await conn.add_listener(channels.LLM_CALLERS, lambda *args: heard.put_nowait(args[-1]))
    box = SecretBox([Fernet.generate_key().decode()])
    try:
        user_id, assistant_id, _ = await make_assistant(sessions, box, millicents=5000)
        assert await asyncio.wait_for(heard.get(), 5) == f"balance {user_id} 5000 0"

        async with sessions() as s:
            await credits_repo.charge(s, user_id, 1200, reference="call-1")
            await api_keys_repository.put(s, user_id, "ANTHROPIC", box.encrypt(OWN_KEY), "wxyz")
            await tokens.issue(s, box, user_id=user_id, assistant_id=assistant_id)  # a rotation
            await s.commit()
        # The own key and the old token's end are one "changed": PostgreSQL sends a transaction's
        # identical notifications once.
        assert [await asyncio.wait_for(heard.get(), 5) for _ in range(2)] == [
            f"balance {user_id} 5000 1200",
            f"changed {user_id}",
        ]

        async with sessions() as s:
            await tokens.revoke_all(s, assistant_id)
            await api_keys_repository.remove(s, user_id, "ANTHROPIC")
            await s.rollback()  # nothing committed, nothing said
            await tokens.revoke_all(s, assistant_id)
            await s.commit()
        assert await asyncio.wait_for(heard.get(), 5) == f"changed {user_id}"
        assert heard.empty()
    finally:
        await conn.close()


@pytest.fixture
async def served(database_url, db) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient, AnthropicStandin]]:
    standin = AnthropicStandin(usage={"input_tokens": 1000, "output_tokens": 0})
    standin.start()
    settings = make_settings(database_url, ANTHROPIC_API_KEY=SHARED_KEY, ANTHROPIC_BASE_URL=standin.base_url)
    try:
        async with LiveServer(settings) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            state = server.app.state.app_state
            await wait_for(lambda: state.listener.connected, message="the LISTEN connection")
            yield server, http, standin
    finally:
        standin.stop()


def cache_of(server: LiveServer) -> callers.CallerCache:
    return server.app.state.app_state.llm.callers


async def new_caller(server: LiveServer, sessions) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A user with an assistant and credit, once the proxy has heard of the grant (a read that raced it
    would be used but not kept)."""
    user_id, assistant_id, token = await make_assistant(
        sessions, server.app.state.app_state.secrets, millicents=100_000
    )
    await wait_for(lambda: cache_of(server).heard_of(user_id), message="the grant heard")
    return user_id, assistant_id, token


def cached(server: LiveServer, token: str) -> callers.CallerRow | None:
    return cache_of(server).get(hash_token(token), datetime.now(UTC))


async def call(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(MESSAGES, json=BODY, headers={"x-api-key": token, "anthropic-version": "2023-06-01"})


async def test_a_live_proxy_acts_on_each_change_as_it_is_heard(served, sessions):
    server, http, standin = served
    box = server.app.state.app_state.secrets
    user_id, assistant_id, token = await new_caller(server, sessions)
    assert (await call(http, token)).status_code == 200
    assert cached(server, token) is not None  # the next call needs no read

    # An own key, set behind the proxy's back: forgotten, read again, carried upstream.
    async with sessions() as s:
        await api_keys_repository.put(s, user_id, "ANTHROPIC", box.encrypt(OWN_KEY), "wxyz")
        await s.commit()
    await wait_for(lambda: cached(server, token) is None, message="the user forgotten")
    assert (await call(http, token)).status_code == 200
    assert standin.message_requests()[-1].headers["x-api-key"] == OWN_KEY

    # Back to the shared key, then the credit used up elsewhere: refused from the balance heard.
    async with sessions() as s:
        await api_keys_repository.remove(s, user_id, "ANTHROPIC")
        await s.commit()
    await wait_for(lambda: cached(server, token) is None, message="the user forgotten again")
    assert (await call(http, token)).status_code == 200
    assert standin.message_requests()[-1].headers["x-api-key"] == SHARED_KEY
    async with sessions() as s:
        left = (await credits_repo.balance(s, user_id)).remaining_millicents
        await credits_repo.charge(s, user_id, left, reference="spent-elsewhere")
        await s.commit()
    await wait_for(
        lambda: (row := cached(server, token)) is not None and row.balance.remaining_millicents == 0,
        message="the balance heard",
    )
    upstream = len(standin.message_requests())
    assert (await call(http, token)).status_code == 402
    assert len(standin.message_requests()) == upstream

    # Revoked: forgotten, and refused.
    async with sessions() as s:
        await tokens.revoke_all(s, assistant_id)
        await s.commit()
    await wait_for(lambda: cached(server, token) is None, message="the token forgotten")
    assert (await call(http, token)).status_code == 401


async def test_after_losing_its_notification_connection_the_proxy_starts_from_the_database(served, sessions):
    server, http, _ = served
    listener = server.app.state.app_state.listener
    _, assistant_id, token = await new_caller(server, sessions)
    assert (await call(http, token)).status_code == 200
    assert len(cache_of(server)) == 1

    first_pid = listener.server_pid
    async with sessions() as s:
        assert await s.scalar(select(func.pg_terminate_backend(first_pid)))
        # Revoked while nobody listens: this notification is lost.
        await tokens.revoke_all(s, assistant_id)
        await s.commit()
    await wait_for(lambda: listener.connected and listener.server_pid != first_pid, message="a new connection")
    assert len(cache_of(server)) == 0
    assert (await call(http, token)).status_code == 401


async def test_a_token_being_rotated_out_is_refused_once_its_grace_is_over(served, sessions):
    server, http, _ = served
    _, assistant_id, token = await new_caller(server, sessions)
    before = cache_of(server).stamp()
    async with sessions() as s:
        # The grace ends a second from now: its start is notified, its end is not.
        await s.execute(
            update(AssistantToken)
            .where(AssistantToken.assistant_id == assistant_id)
            .values(expires_at=datetime.now(UTC) + timedelta(seconds=1))
        )
        await s.commit()
    await wait_for(lambda: cache_of(server).stamp() > before, message="the change heard")
    assert (await call(http, token)).status_code == 200
    row = cached(server, token)
    assert row is not None and row.expires_at is not None
    await wait_for(lambda: cached(server, token) is None, timeout=5, message="the grace to end")
    assert (await call(http, token)).status_code == 401
