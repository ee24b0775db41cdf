"""A stopped instance is retired (its volume moved or restored) while one of its polls is still being answered:
whichever of the two transactions comes first, the message ends up in the queue for the next container, never
leased to the retired one. Driven step by step on two connections, the wait observed in pg_stat_activity."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.harness.assistant_protocol import queue_message
from tests.harness.database import lock_waiters
from tests.harness.rows import make_user
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import InboundMessage
from yourclaw.protocol import repository

pytestmark = pytest.mark.db

OLD = "instance-on-the-old-host"


async def _waiting_on_a_lock_or_done(sessions, task: asyncio.Task) -> bool:
    return task.done() or await lock_waiters(sessions) > 0


async def _queued(sessions, message_id) -> tuple[str, str | None]:
    async with sessions() as s:
        row = (
            await s.execute(
                select(InboundMessage.status, InboundMessage.lease_instance).where(InboundMessage.id == message_id)
            )
        ).one()
    return row.status, row.lease_instance


async def test_a_hand_out_in_flight_finishes_first_and_the_retirement_gives_its_lease_back(sessions, db):
    user_id = await make_user(sessions, "+14155550181")
    message_id = await queue_message(sessions, user_id, "sent while it moves")
    async with sessions() as poll:
        # The old instance's last poll has leased the message and not yet committed.
        taken = await repository.hand_out(poll, user_id, instance_id=OLD, lease_seconds=60)
        assert taken.message is not None and taken.message.id == message_id

        async def retire() -> int:
            async with transaction(sessions) as s:
                return await repository.retire_instance(s, user_id, OLD)

        retiring = asyncio.create_task(retire())
        await wait_for(lambda: _waiting_on_a_lock_or_done(sessions, retiring), message="the retirement to wait")
        assert not retiring.done(), "the retirement went ahead without waiting for the hand-out in flight"
        await poll.commit()

    assert await retiring == 1
    assert await _queued(sessions, message_id) == ("QUEUED", None)


async def test_a_retirement_in_flight_finishes_first_and_the_poll_gets_nothing(sessions, db):
    user_id = await make_user(sessions, "+14155550182")
    message_id = await queue_message(sessions, user_id, "sent while it moves")
    async with sessions() as retirement:
        assert await repository.retire_instance(retirement, user_id, OLD) == 0  # not committed yet

        async def poll():
            async with transaction(sessions) as s:
                return await repository.hand_out(s, user_id, instance_id=OLD, lease_seconds=60)

        polling = asyncio.create_task(poll())
        await wait_for(lambda: _waiting_on_a_lock_or_done(sessions, polling), message="the poll to wait")
        assert not polling.done(), "the poll went ahead without waiting for the retirement in flight"
        await retirement.commit()

    assert (await polling).message is None
    assert await _queued(sessions, message_id) == ("QUEUED", None)
    # The next container's instance is handed the message.
    async with transaction(sessions) as s:
        taken = await repository.hand_out(s, user_id, instance_id="instance-on-the-new-host", lease_seconds=60)
    assert taken.message is not None and taken.message.id == message_id
