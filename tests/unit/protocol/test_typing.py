"""When the typing indicator is shown: at hand-out, then again only once the last show is close to lapsing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from yourclaw.protocol.typing import Typing

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_renewals_are_spaced_by_the_renew_interval():
    shown: list[str] = []

    async def send(sid: str) -> None:
        shown.append(sid)

    clock = Clock()
    typing = Typing(send, renew_after=20, clock=clock)
    message = uuid.uuid4()
    typing.handed_out(message, "SM1")
    for _ in range(6):  # the plugin renews every 10 s
        clock.now += 10
        typing.renewed(message, "SM1")
    await typing.drain()
    assert shown == ["SM1"] * 4  # at 0, 20, 40, 60 s


async def test_a_redelivery_shows_at_once_and_a_failure_is_swallowed():
    calls = 0

    async def send(sid: str) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("twilio down")

    typing = Typing(send, renew_after=20, clock=Clock())
    message = uuid.uuid4()
    typing.handed_out(message, "SM1")
    typing.handed_out(message, "SM1")
    await typing.drain()
    assert calls == 2


async def test_a_hung_send_does_not_hold_anyone_and_is_cancelled_on_close():
    started = asyncio.Event()

    async def send(sid: str) -> None:
        started.set()
        await asyncio.Event().wait()

    typing = Typing(send, renew_after=20)
    typing.handed_out(uuid.uuid4(), "SM1")  # returns at once
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(typing.close(), 5)


async def test_off_or_without_a_sid_nothing_is_sent():
    typing = Typing(None, renew_after=20)
    typing.handed_out(uuid.uuid4(), "SM1")
    assert not typing.enabled
    sent: list[str] = []

    async def send(sid: str) -> None:
        sent.append(sid)

    on = Typing(send, renew_after=20)
    on.handed_out(uuid.uuid4(), "")
    await on.drain()
    assert sent == []
