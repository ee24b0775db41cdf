"""A browser session for an in-process client: signed in through the dev login, the token exchanged for the
session cookie; returns the CSRF token cookie writes need."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from tests.harness.rows import sign_in


async def cookie_session(client: AsyncTestClient, email: str | None = None) -> str:
    headers, _ = await sign_in(client, email)
    token = headers["Authorization"].removeprefix("Bearer ")
    response = await client.post("/api/v1/session", json={"access_token": token})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]
