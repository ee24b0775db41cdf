"""A user Supabase bans or deletes is signed out within SUPABASE_USER_RECHECK_SECONDS, cookie session and
bearer tokens alike, for good; while Supabase cannot be asked, people stay signed in and it is asked once
per interval, not once per request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from tests.harness.supabase import FakeSupabase
from yourclaw.db.models import User
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

RECHECK = 300


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def supabase() -> AsyncIterator[FakeSupabase]:
    with FakeSupabase() as fake:
        yield fake


@pytest.fixture
async def app_client(database_url, db, supabase) -> AsyncIterator[tuple[AsyncTestClient, Clock]]:
    app = create_app(supabase.settings(database_url, SUPABASE_USER_RECHECK_SECONDS=str(RECHECK)))
    async with AsyncTestClient(app=app) as client:
        clock = Clock()
        client.app.state.app_state.supabase_users.clock = clock
        yield client, clock


async def _me(client: AsyncTestClient, **headers: str) -> tuple[int, str | None]:
    response = await client.get("/api/v1/users/me", headers=headers)
    return response.status_code, response.json().get("code") if response.status_code != 200 else None


@pytest.mark.parametrize("end", ["ban", "delete"])
async def test_a_ban_or_deletion_at_supabase_ends_the_session_within_the_interval(app_client, supabase, db, end):
    client, clock = app_client
    # Issued a little before its use, as any token is (sign-outs are judged to the token's whole second).
    user_id, token = supabase.add(issued_seconds_ago=5)
    assert (await client.post("/api/v1/session", json={"access_token": token})).status_code == 200
    assert await _me(client) == (200, None)
    assert supabase.lookups == 1

    getattr(supabase, end)(user_id)
    clock.now += RECHECK - 1
    assert await _me(client) == (200, None)
    assert supabase.lookups == 1
    clock.now += 1
    assert await _me(client) == (401, "ACCOUNT_DISABLED")
    assert await db.scalar(select(User.sessions_revoked_at).where(User.id == user_id)) is not None

    # For good: the cookie and the token from before stay refused whatever Supabase says later.
    if end == "ban":
        supabase.users[str(user_id)].pop("banned_until")
    else:
        supabase.users[str(user_id)] = {"id": str(user_id)}
    asked = supabase.lookups
    assert await _me(client) == (401, "SESSION_EXPIRED")
    client.cookies.clear()
    assert await _me(client, Authorization=f"Bearer {token}") == (401, "TOKEN_REVOKED")
    # What the sign-out ended is refused without asking Supabase again.
    assert supabase.lookups == asked


async def test_a_ban_ends_bearer_tokens_too(app_client, supabase):
    client, clock = app_client
    user_id, token = supabase.add()
    assert await _me(client, Authorization=f"Bearer {token}") == (200, None)
    supabase.ban(user_id)
    clock.now += RECHECK
    assert await _me(client, Authorization=f"Bearer {token}") == (401, "ACCOUNT_DISABLED")


async def test_a_ban_that_has_ended_signs_nobody_out(app_client, supabase):
    client, _ = app_client
    user_id, token = supabase.add()
    supabase.ban(user_id, until="2001-01-01T00:00:00Z")
    assert await _me(client, Authorization=f"Bearer {token}") == (200, None)


async def test_while_supabase_cannot_be_asked_people_stay_signed_in_and_it_is_asked_once_per_interval(
    app_client, supabase
):
    client, clock = app_client
    _, token = supabase.add()
    assert (await client.post("/api/v1/session", json={"access_token": token})).status_code == 200
    supabase.status = 503
    for _ in range(20):
        assert await _me(client) == (200, None)
    assert supabase.lookups == 1
    clock.now += RECHECK
    assert await _me(client) == (200, None)
    assert supabase.lookups == 2
