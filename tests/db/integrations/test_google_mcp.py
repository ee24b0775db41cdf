"""The MCP server at /mcp/google through the real `mcp` client SDK: the assistant's own token, only the
connected services' tools, calls reaching the user's Google data through the stand-in, no other tenant's,
tools gone once disconnected, refresh and "needs reconnect", the per-user limit and the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from tests.harness.assistant_protocol import make_owner
from tests.harness.google import connect, mcp_client
from tests.harness.settings import DEV_SECRET
from yourclaw.accounts.jwt_verifier import issue_dev_token
from yourclaw.db.models import IntegrationCall, Outbox, UserIntegration

pytestmark = pytest.mark.db

CALENDAR_TOOLS = {
    "calendar_list_events",
    "calendar_create_event",
    "calendar_update_event",
    "calendar_delete_event",
    "calendar_free_busy",
}


async def _connected_owner(api, live, sessions, *services: str, email: str = "anna@example.com"):
    """An assistant (its token) whose user connected `services` through the API and the stand-in's consent."""
    owner = await make_owner(sessions)
    headers = signed_in(live, owner.user_id)
    for service in services:
        response = await connect(api, headers, service, email=email)
        assert response.status_code == 302, response.text
    return owner, headers


def signed_in(live, user_id) -> dict[str, str]:
    """The header dev sign-in would give an existing user (its tokens name the user by id)."""
    token = issue_dev_token(
        DEV_SECRET,
        sub=str(user_id),
        email=f"{user_id.hex[:8]}@example.com",
        issuer=f"{live.url}/dev-auth",
        ttl_seconds=3600,
    )
    return {"Authorization": f"Bearer {token}"}


async def _names(client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


def _text(result) -> str:
    return "".join(c.text for c in result.content)


async def test_no_token_is_refused(live):
    async with httpx.AsyncClient() as http:
        response = await http.post(live.url + "/mcp/google", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401 and response.json()["code"] == "INVALID_ASSISTANT_TOKEN"
    async with httpx.AsyncClient() as http:
        response = await http.post(live.url + "/mcp/google", json={}, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    async with httpx.AsyncClient() as http:
        # Stateless: no standing SSE stream to hold open.
        response = await http.get(live.url + "/mcp/google", headers={"Accept": "text/event-stream"})
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"


async def test_tools_of_connected_services_only_and_a_call_reads_the_calendar(api, live, sessions):
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    async with mcp_client(live.url, owner.token) as client:
        assert await _names(client) == CALENDAR_TOOLS
        result = await client.call_tool("calendar_list_events", {})
        assert not result.is_error
        assert "Dentist appointment" in _text(result)
        # A tool of a service not connected is refused, not run.
        refused = await client.call_tool("gmail_search", {"query": "invoice"})
        assert refused.is_error and "not connected" in _text(refused)
    async with sessions() as s:
        calls = (
            await s.execute(
                select(IntegrationCall.tool, IntegrationCall.outcome)
                .where(IntegrationCall.user_id == owner.user_id)
                .order_by(IntegrationCall.id)
            )
        ).all()
    assert calls == [("calendar_list_events", "ok"), ("gmail_search", "not_connected")]


async def test_gmail_search_and_read_counted_in_usage(api, live, sessions):
    owner, _headers = await _connected_owner(api, live, sessions, "gmail")
    async with mcp_client(live.url, owner.token) as client:
        found = await client.call_tool("gmail_search", {"query": "invoice"})
        assert "Invoice 4471 from ACME" in _text(found)
        import json

        message_id = json.loads(_text(found))["messages"][0]["id"]
        read = await client.call_tool("gmail_read_message", {"message_id": message_id})
        assert "120 EUR" in _text(read)
        draft = await client.call_tool(
            "gmail_create_draft", {"to": ["bob@example.com"], "subject": "Hi", "body": "Draft text"}
        )
        assert not draft.is_error and "draft_id" in _text(draft)
    usage = (await api.get("/api/v1/usage", headers=_headers)).json()
    assert [(row["service"], row["calls"]) for row in usage["google_calls"]] == [("gmail", 3)]
    assert usage["limits"]["google_tool_calls_per_minute"] == 8


async def test_another_tenants_google_is_out_of_reach(api, live, sessions, google):
    a, _ = await _connected_owner(api, live, sessions, "calendar", email="a@example.com")
    b, _ = await _connected_owner(api, live, sessions, email="b@example.com")
    google.account("a@example.com").events["secret1"] = {
        "id": "secret1",
        "summary": "A's private meeting",
        "start": {"dateTime": "2030-01-01T10:00:00+00:00"},
        "end": {"dateTime": "2030-01-01T11:00:00+00:00"},
    }
    async with mcp_client(live.url, b.token) as client:
        assert await _names(client) == set()
        result = await client.call_tool("calendar_list_events", {"time_min": "2029-12-31T00:00:00Z"})
        assert result.is_error and "A's private meeting" not in _text(result)
        deleted = await client.call_tool("calendar_delete_event", {"event_id": "secret1"})
        assert deleted.is_error
    assert "secret1" in google.account("a@example.com").events
    async with mcp_client(live.url, a.token) as client:
        result = await client.call_tool("calendar_list_events", {"time_min": "2029-12-31T00:00:00Z"})
        assert "A's private meeting" in _text(result)


async def test_disconnected_service_tools_are_gone_on_the_next_call(api, live, sessions, google):
    owner, headers = await _connected_owner(api, live, sessions, "calendar", "drive")
    async with mcp_client(live.url, owner.token) as client:
        assert "drive_search" in await _names(client)
        gone = await api.delete("/api/v1/oauth/google/calendar", headers=headers)
        assert gone.status_code == 204
        assert await _names(client) == {"drive_search", "drive_read_file", "drive_create_file"}
        refused = await client.call_tool("calendar_list_events", {})
        assert refused.is_error and "not connected" in _text(refused)
        # Drive still holds the account's grant: revoked at Google only with the last service.
        assert google.revoked == []
        assert (await api.delete("/api/v1/oauth/google/drive", headers=headers)).status_code == 204
        assert await _names(client) == set()
    assert google.revoked == ["anna@example.com"]
    again = await api.delete("/api/v1/oauth/google/drive", headers=headers)
    assert again.status_code == 404 and again.json()["code"] == "SERVICE_NOT_CONNECTED"


async def test_expired_access_token_is_refreshed_by_the_control_plane(api, live, sessions, google):
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    google.expire_access_tokens()
    async with sessions() as s:
        await s.execute(
            update(UserIntegration)
            .where(UserIntegration.user_id == owner.user_id)
            .values(token_expires_at=datetime.now(UTC))
        )
        await s.commit()
    async with mcp_client(live.url, owner.token) as client:
        result = await client.call_tool("calendar_list_events", {})
    assert not result.is_error and "Dentist" in _text(result)
    async with sessions() as s:
        row = await s.scalar(select(UserIntegration).where(UserIntegration.user_id == owner.user_id))
    assert row.token_expires_at > datetime.now(UTC) + timedelta(minutes=30)


async def test_invalid_grant_means_needs_reconnect_and_one_whatsapp_notice(api, live, sessions, google):
    owner, headers = await _connected_owner(api, live, sessions, "calendar", email="gone@example.com")
    google.revoke_all("gone@example.com")
    async with sessions() as s:
        await s.execute(
            update(UserIntegration)
            .where(UserIntegration.user_id == owner.user_id)
            .values(token_expires_at=datetime.now(UTC))
        )
        await s.commit()
    async with mcp_client(live.url, owner.token) as client:
        first = await client.call_tool("calendar_list_events", {})
        assert first.is_error and "connected again" in _text(first)
        assert await _names(client) == set()
        second = await client.call_tool("calendar_list_events", {})
        assert second.is_error
    listed = (await api.get("/api/v1/oauth/integrations", headers=headers)).json()
    assert {i["service"]: i["status"] for i in listed["integrations"]}["calendar"] == "needs_reconnect"
    async with sessions() as s:
        notices = (await s.scalars(select(Outbox.body).where(Outbox.user_id == owner.user_id))).all()
    assert len(notices) == 1 and "Google Calendar" in notices[0] and "Connect it again" in notices[0]
    # Connecting again puts it back.
    assert (await connect(api, headers, "calendar", email="gone@example.com")).status_code == 302
    async with mcp_client(live.url, owner.token) as client:
        assert "calendar_list_events" in await _names(client)


async def test_tool_calls_are_rationed_per_user(api, live, sessions):
    """GOOGLE_TOOL_CALLS_PER_MINUTE is 8 on this server; another user's calls do not count."""
    owner, _ = await _connected_owner(api, live, sessions, "calendar")
    other, _ = await _connected_owner(api, live, sessions, "calendar")
    async with mcp_client(live.url, owner.token) as client:
        for _ in range(8):
            assert not (
                await client.call_tool(
                    "calendar_free_busy", {"time_min": "2026-01-01T00:00:00Z", "time_max": "2026-01-02T00:00:00Z"}
                )
            ).is_error
        limited = await client.call_tool("calendar_list_events", {})
        assert limited.is_error and "at most 8 a minute" in _text(limited)
    async with mcp_client(live.url, other.token) as client:
        assert not (await client.call_tool("calendar_list_events", {})).is_error
