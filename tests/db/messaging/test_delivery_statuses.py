"""A delivery status that Twilio posts while the sender is recording the part (between reading the sid and
committing it) is neither lost nor applied to nothing: the callback waits for the part's commit, then finds
its message. Driven step by step on two connections, the callback's wait observed in pg_stat_activity."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.harness.database import lock_waiters
from tests.harness.rows import make_user
from tests.harness.waiting import wait_for
from yourclaw.db.models import EarlyDeliveryStatus, Message
from yourclaw.messaging.outbound import delivery_statuses

pytestmark = pytest.mark.db

SID = "SM" + "d" * 32


async def test_a_callback_during_the_parts_transaction_waits_for_it_and_lands_on_the_message(sessions, db):
    user_id = await make_user(sessions, "+14155550199", verified=True, assistant=None)
    async with sessions() as recorder:
        conn = await recorder.connection()
        # The sender has Twilio's answer ("queued") and records the part: the sid's lock is now held.
        status = await delivery_statuses.take_early(conn, SID, "queued")
        assert status == "queued"
        await conn.execute(
            Message.__table__.insert().values(
                user_id=user_id, direction="OUTBOUND", kind="reply", body="hi", twilio_sid=SID, delivery_status=status
            )
        )

        async def callback() -> bool:
            async with sessions() as s:
                found = await delivery_statuses.set_delivery_status(s, SID, "delivered")
                await s.commit()
                return found

        posted = asyncio.create_task(callback())

        await wait_for(lambda: lock_waiters(sessions, "advisory"), message="the callback to wait for the part's lock")
        assert not posted.done()
        await recorder.commit()

    assert await posted is True
    async with sessions() as s:
        assert await s.scalar(select(Message.delivery_status).where(Message.twilio_sid == SID)) == "delivered"
        assert await s.scalar(select(EarlyDeliveryStatus.status).where(EarlyDeliveryStatus.twilio_sid == SID)) is None


async def test_an_early_status_is_applied_when_the_part_is_recorded_and_never_goes_back(sessions, db):
    user_id = await make_user(sessions, "+14155550198", verified=True, assistant=None)
    sid = "SM" + "e" * 32
    async with sessions() as s:
        assert await delivery_statuses.set_delivery_status(s, sid, "delivered") is False
        assert await delivery_statuses.set_delivery_status(s, sid, "sent") is False  # late and lower: kept as is
        await s.commit()
    async with sessions() as s:
        conn = await s.connection()
        status = await delivery_statuses.take_early(conn, sid, "queued")
        await conn.execute(
            Message.__table__.insert().values(
                user_id=user_id, direction="OUTBOUND", kind="reply", body="hi", twilio_sid=sid, delivery_status=status
            )
        )
        await s.commit()
    async with sessions() as s:
        assert await s.scalar(select(Message.delivery_status).where(Message.twilio_sid == sid)) == "delivered"
        assert await s.scalar(select(EarlyDeliveryStatus.status).where(EarlyDeliveryStatus.twilio_sid == sid)) is None
