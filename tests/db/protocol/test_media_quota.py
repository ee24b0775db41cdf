"""What one user's assistant may keep stored: uploads count against MEDIA_QUOTA_BYTES until they expire, and
the upload that would pass it is a 413 MEDIA_QUOTA_EXCEEDED, even among concurrent uploads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from tests.harness.assistant_protocol import Owner, Served, make_owner, serve
from tests.harness.settings import make_settings
from yourclaw.db.models import Media

pytestmark = pytest.mark.db

MEDIA = "/api/v1/runtime/media"
QUOTA = 1000


@pytest.fixture
async def served(database_url, db) -> AsyncIterator[Served]:
    settings = make_settings(database_url, MEDIA_MAX_BYTES="600", MEDIA_QUOTA_BYTES=str(QUOTA))
    async with serve(settings) as served:
        yield served


async def _upload(served: Served, owner: Owner, size: int) -> tuple[int, dict]:
    headers = {**owner.headers, "Content-Type": "image/png"}
    response = await served.http.post(MEDIA, content=b"x" * size, headers=headers)
    return response.status_code, response.json()


async def _stored(sessions, owner: Owner) -> int:
    async with sessions() as s:
        return await s.scalar(select(func.coalesce(func.sum(Media.size), 0)).where(Media.user_id == owner.user_id))


async def test_the_upload_that_would_pass_the_quota_is_a_413_and_expired_ones_free_it(served, sessions):
    alice, bob = await make_owner(sessions), await make_owner(sessions)
    assert (await _upload(served, alice, 400))[0] == 201
    assert (await _upload(served, alice, 400))[0] == 201
    status, body = await _upload(served, alice, 400)
    assert status == 413
    assert body == {
        "detail": f"Stored media is limited to {QUOTA} bytes per user and this upload would pass it; "
        "uploads expire 30 days after they are made",
        "code": "MEDIA_QUOTA_EXCEEDED",
    }
    assert (await _upload(served, alice, 200))[0] == 201  # what is left still fits
    assert await _stored(sessions, alice) == QUOTA
    assert (await _upload(served, bob, 400))[0] == 201  # another user's quota is their own

    async with sessions() as s:
        await s.execute(
            update(Media).where(Media.user_id == alice.user_id).values(expires_at=datetime.now(UTC) - timedelta(1))
        )
        await s.commit()
    assert (await _upload(served, alice, 400))[0] == 201


async def test_concurrent_uploads_cannot_all_fit_in_what_is_left(served, sessions):
    alice = await make_owner(sessions)
    answers = await asyncio.gather(*(_upload(served, alice, 300) for _ in range(10)))
    assert sorted(status for status, _ in answers) == [201] * 3 + [413] * 7
    assert await _stored(sessions, alice) == 900
