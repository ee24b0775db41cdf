"""The tool call's hot path: a fresh access token is used without the row lock, an expiring one is refreshed
once however many calls need it, and Google's API is reached for every kind of request a tool sends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from tests.db.integrations.test_google_mcp import _connected_owner, _text
from tests.harness.google import mcp_client
from tests.harness.waiting import wait_for
from yourclaw.db.models import AssistantToken, IntegrationCall, UserIntegration
from yourclaw.protocol.tokens import hash_token


async def test_a_fresh_token_is_used_while_another_transaction_holds_the_row(api, live, sessions):
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    async with sessions() as holder:
        # A refresh in progress elsewhere (or a disconnect) holds the row: a call with a fresh token need not wait.
        await holder.execute(
            select(UserIntegration.id).where(UserIntegration.user_id == owner.user_id).with_for_update()
        )
        async with mcp_client(live.url, owner.token) as client:
            result = await asyncio.wait_for(client.call_tool("calendar_list_events", {}), timeout=10)
        assert not result.is_error and "Dentist" in _text(result)
        await holder.rollback()
    async with sessions() as s:
        audited = (await s.execute(select(IntegrationCall.tool, IntegrationCall.outcome))).all()
    assert ("calendar_list_events", "ok") in [tuple(row) for row in audited]


async def test_concurrent_calls_with_an_expiring_token_refresh_it_once(api, live, sessions, google):
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    async with sessions() as s:
        await s.execute(
            update(UserIntegration)
            .where(UserIntegration.user_id == owner.user_id)
            .values(token_expires_at=datetime.now(UTC))
        )
        await s.commit()
    before = len([t for t in google.issued if t.startswith("ya29.")])

    async def one_call() -> str:
        async with mcp_client(live.url, owner.token) as client:
            result = await client.call_tool("calendar_list_events", {})
        assert not result.is_error
        return _text(result)

    answers = await asyncio.gather(*(one_call() for _ in range(4)))
    assert all("Dentist" in a for a in answers)
    assert len([t for t in google.issued if t.startswith("ya29.")]) == before + 1


async def test_drive_create_sends_a_multipart_upload_and_read_gets_it_back(api, live, sessions):
    owner, _ = await _connected_owner(api, live, sessions, "drive")
    async with mcp_client(live.url, owner.token) as client:
        created = await client.call_tool("drive_create_file", {"name": "Shopping list", "content": "Milk, eggs"})
        assert not created.is_error, _text(created)
        file_id = json.loads(_text(created))["id"]
        read = await client.call_tool("drive_read_file", {"file_id": file_id})
    assert not read.is_error and "Milk, eggs" in _text(read)


async def test_a_revoked_assistant_token_is_refused_on_the_next_call(api, live, sessions):
    """The token's owner is remembered between calls; revoking it is heard at once (a notification)."""
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    mcp = live.app.state.app_state.google_mcp
    await wait_for(lambda: live.app.state.app_state.listener.connected, message="the LISTEN connection")
    async with mcp_client(live.url, owner.token) as client:
        assert not (await client.call_tool("calendar_list_events", {})).is_error
    assert mcp.owners.get(hash_token(owner.token), datetime.now(UTC)) == owner.user_id
    async with sessions() as s:
        await s.execute(
            update(AssistantToken).where(AssistantToken.user_id == owner.user_id).values(revoked_at=datetime.now(UTC))
        )
        await s.commit()
    await wait_for(lambda: mcp.owners.get(hash_token(owner.token), datetime.now(UTC)) is None, message="forgotten")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "calendar_list_events"}}
    headers = {"Authorization": f"Bearer {owner.token}", "Accept": "application/json, text/event-stream"}
    response = await api.post("/mcp/google", json=body, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "INVALID_ASSISTANT_TOKEN"
