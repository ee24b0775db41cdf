"""Entering WhatsApp numbers is rationed per user (PHONE_ATTEMPTS_PER_HOUR): a 409 PHONE_TAKEN tells whether
a number is linked to someone, so trying numbers one after another must not enumerate them. Refused
attempts count too, and past the limit every answer is the same 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from tests.harness.rows import make_user, sign_in
from tests.harness.settings import make_settings
from yourclaw.db.models import PhoneAttempts
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

TAKEN = "+14155550177"
LIMIT = 3


@pytest.fixture
async def limited(database_url, db) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(database_url, PHONE_ATTEMPTS_PER_HOUR=str(LIMIT)))
    async with AsyncTestClient(app=app) as client:
        yield client


async def _enter(client, headers, phone: str) -> tuple[int, str | None]:
    response = await client.post("/api/v1/users/me/phone", json={"phone": phone}, headers=headers)
    return response.status_code, response.json().get("code")


async def test_probing_taken_numbers_is_refused_past_the_limit_for_an_hour(limited, sessions, db):
    await make_user(sessions, TAKEN)
    prober, prober_id = await sign_in(limited)
    assert [await _enter(limited, prober, TAKEN) for _ in range(LIMIT)] == [(409, "PHONE_TAKEN")] * LIMIT

    response = await limited.post("/api/v1/users/me/phone", json={"phone": TAKEN}, headers=prober)
    assert response.status_code == 429
    assert response.json() == {
        "detail": f"You entered a number {LIMIT} times in the last hour; try again in 60 minutes",
        "code": "PHONE_ATTEMPTS_LIMITED",
    }
    assert 3500 < int(response.headers["retry-after"]) <= 3600
    # A free number gets the same answer now: the limit tells nothing about the number.
    assert await _enter(limited, prober, "+14155550100") == (429, "PHONE_ATTEMPTS_LIMITED")
    # Someone else is not limited by it.
    other, _ = await sign_in(limited)
    assert await _enter(limited, other, "+14155550101") == (200, None)

    await db.execute(
        update(PhoneAttempts)
        .where(PhoneAttempts.user_id == prober_id)
        .values(window_started_at=datetime.now(UTC) - timedelta(minutes=61))
    )
    await db.commit()
    assert await _enter(limited, prober, "+14155550100") == (200, None)


async def test_concurrent_submissions_all_count(limited):
    headers, _ = await sign_in(limited)
    answers = await asyncio.gather(*(_enter(limited, headers, f"+1415555{n:04d}") for n in range(200, 210)))
    assert sorted(status for status, _ in answers) == [200] * LIMIT + [429] * (10 - LIMIT)
