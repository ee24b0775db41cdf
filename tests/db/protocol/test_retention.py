"""The worker's retention sweep deletes rows past their time and keeps everything still of use: live media,
tokens still valid (or ended less than a day ago), numbers verified or recently asked for, current counts of
number submissions, Stripe events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from tests.harness.rows import make_assistant, make_user
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.models import AssistantToken, EarlyDeliveryStatus, Media, PhoneAttempts, StripeEvent, User, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.protocol import media_repository as media_repo
from yourclaw.protocol import tokens
from yourclaw.protocol.retention import BATCH, run_retention_sweeper, sweep

pytestmark = pytest.mark.db

NOW = datetime.now(UTC)


async def _media(sessions, user_id: uuid.UUID, *, expires_in: timedelta) -> uuid.UUID:
    async with sessions() as s:
        media_id = await media_repo.store_media(s, user_id, source="outbound", content_type="image/png", data=b"x")
        await s.execute(update(Media).where(Media.id == media_id).values(expires_at=NOW + expires_in))
        await s.commit()
    return media_id


async def _ids(sessions, column) -> set:
    async with sessions() as s:
        return set((await s.scalars(select(column))).all())


async def _phone(sessions, phone: str, *, verified: bool, code_expired_ago: timedelta = timedelta(0)) -> uuid.UUID:
    return await make_user(sessions, phone, verified=verified, assistant=None, code_expires_in=-code_expired_ago)


async def test_a_sweep_deletes_what_is_past_its_time_and_keeps_the_rest(sessions, db):
    box = SecretBox([Fernet.generate_key().decode()])
    user_id, assistant_id, _ = await make_assistant(sessions, box)
    expired_media = await _media(sessions, user_id, expires_in=-timedelta(minutes=1))
    live_media = await _media(sessions, user_id, expires_in=timedelta(days=29))

    async with sessions() as s:
        ended_long_ago = await tokens.issue(s, box, user_id=user_id, assistant_id=assistant_id)
        ended_lately = await tokens.issue(s, box, user_id=user_id, assistant_id=assistant_id)
        revoked_long_ago = await tokens.issue(s, box, user_id=user_id, assistant_id=assistant_id)
        current = await tokens.issue(s, box, user_id=user_id, assistant_id=assistant_id)
        for token, values in (
            (ended_long_ago, {"expires_at": NOW - timedelta(days=2)}),
            (ended_lately, {"expires_at": NOW - timedelta(hours=1)}),
            (revoked_long_ago, {"revoked_at": NOW - timedelta(days=2)}),
        ):
            await s.execute(
                update(AssistantToken).where(AssistantToken.token_hash == tokens.hash_token(token)).values(**values)
            )
        s.add(StripeEvent(id="evt_old", type="invoice.paid", created_at=NOW - timedelta(days=900)))
        # Statuses Twilio posted for parts no message claimed: a day old (a number with no account), and fresh.
        s.add(EarlyDeliveryStatus(twilio_sid="SM" + "0" * 32, status="sent", received_at=NOW - timedelta(days=2)))
        s.add(EarlyDeliveryStatus(twilio_sid="SM" + "1" * 32, status="sent"))
        await s.commit()

    stale = await _phone(sessions, "+14155550101", verified=False, code_expired_ago=timedelta(days=8))
    recent = await _phone(sessions, "+14155550102", verified=False, code_expired_ago=timedelta(days=6))
    verified = await _phone(sessions, "+14155550103", verified=True)
    async with sessions() as s:
        s.add(PhoneAttempts(user_id=stale, window_started_at=NOW - timedelta(hours=2), attempts=3))
        s.add(PhoneAttempts(user_id=recent, window_started_at=NOW - timedelta(minutes=10), attempts=3))
        await s.commit()

    deleted = await sweep(make_settings("postgresql://unused/db"), sessions)
    assert deleted == {
        "media": 1,
        "assistant_tokens": 2,
        "unverified_phones": 1,
        "phone_attempts": 1,
        "early_delivery_statuses": 1,
    }

    assert await _ids(sessions, Media.id) == {live_media}
    assert expired_media not in await _ids(sessions, Media.id)
    kept_tokens = await _ids(sessions, AssistantToken.token_hash)
    assert {tokens.hash_token(t) for t in (ended_lately, current)} <= kept_tokens
    assert not {tokens.hash_token(t) for t in (ended_long_ago, revoked_long_ago)} & kept_tokens
    assert await _ids(sessions, UserPhone.user_id) == {recent, verified}
    assert await _ids(sessions, User.id) >= {stale, recent, verified}  # the number goes, never the user
    assert await _ids(sessions, PhoneAttempts.user_id) == {recent}
    assert await _ids(sessions, StripeEvent.id) == {"evt_old"}
    assert await _ids(sessions, EarlyDeliveryStatus.twilio_sid) == {"SM" + "1" * 32}

    assert await sweep(make_settings("postgresql://unused/db"), sessions) == dict.fromkeys(deleted, 0)


async def test_a_backlog_goes_in_batches_and_the_worker_sweeps_on_its_own(sessions, db):
    box = SecretBox([Fernet.generate_key().decode()])
    user_id, _, _ = await make_assistant(sessions, box)
    async with sessions() as s:
        for _ in range(BATCH + 20):
            await media_repo.store_media(s, user_id, source="inbound", content_type="image/png", data=b"x")
        await s.execute(update(Media).values(expires_at=NOW - timedelta(seconds=1)))
        await s.commit()

    stop = asyncio.Event()
    sweeper = asyncio.create_task(
        run_retention_sweeper(make_settings("postgresql://unused/db"), sessions, stop, interval=0.05)
    )
    try:

        async def none_left() -> bool:
            async with sessions() as s:
                return await s.scalar(select(func.count()).select_from(Media)) == 0

        await wait_for(none_left, message="the expired media to be deleted")
    finally:
        stop.set()
        await asyncio.wait_for(sweeper, 5)
