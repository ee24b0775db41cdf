"""An answer is cancelled when its client hangs up, except over a stretch in `hangup_deferred`: there the
hang-up is told, what the stretch awaits runs to its end, and the answer is cancelled as the stretch ends
unless it acted on the hang-up itself."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.waiting import wait_for
from yourclaw.kit.asgi import ClientGone, cancel_on_disconnect, hangup_deferred

pytestmark = pytest.mark.unit


class Client:
    """The ASGI side of a client: `hang_up` makes the pending `receive` say it is gone."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def hang_up(self) -> None:
        self._gone.set()


async def test_a_hang_up_cancels_the_answer_where_it_waits():
    client, waiting = Client(), asyncio.Event()

    async def answer(send) -> None:
        waiting.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(cancel_on_disconnect(client.receive, client.send, answer))
    await waiting.wait()
    client.hang_up()
    with pytest.raises(ClientGone):
        await task


async def test_inside_a_deferred_stretch_the_awaited_work_finishes_and_the_hang_up_is_told():
    client, upstream, told, seen = Client(), asyncio.get_running_loop().create_future(), [], []

    async def answer(send) -> None:
        with hangup_deferred() as hung_up:
            told.append(hung_up)
            seen.append(hung_up())
            result = await upstream  # would have been cancelled outside the stretch
            seen.append(hung_up())
            if hung_up():
                seen.append(result)
                raise ClientGone()

    task = asyncio.create_task(cancel_on_disconnect(client.receive, client.send, answer))
    await wait_for(lambda: told, message="the answer waiting on upstream")
    client.hang_up()
    await wait_for(lambda: told[0](), message="the hang-up told")
    assert not task.done()
    upstream.set_result("the answer")
    with pytest.raises(ClientGone):
        await task
    assert seen == [False, True, "the answer"]


async def test_a_hang_up_left_unsaid_cancels_the_answer_when_the_stretch_ends():
    client, upstream, told, after = Client(), asyncio.get_running_loop().create_future(), [], []

    async def answer(send) -> None:
        with hangup_deferred() as hung_up:
            told.append(hung_up)
            await upstream
        after.append("reached")
        await asyncio.Event().wait()  # the next wait is where the cancellation lands
        after.append("never")

    task = asyncio.create_task(cancel_on_disconnect(client.receive, client.send, answer))
    await wait_for(lambda: told, message="the answer waiting on upstream")
    client.hang_up()
    await wait_for(lambda: told[0](), message="the hang-up told")
    upstream.set_result(None)
    with pytest.raises(ClientGone):
        await task
    assert after == ["reached"]


async def test_outside_an_answer_the_stretch_is_a_plain_block():
    with hangup_deferred() as hung_up:
        assert hung_up() is False
