"""The router wake-up after a webhook's commit: a burst costs one NOTIFY in flight plus one for the rest."""

from __future__ import annotations

import asyncio

import pytest

from yourclaw.messaging.inbound.router_wakeup import RouterWakeup

pytestmark = pytest.mark.unit


async def test_a_burst_of_wakes_is_one_notify_in_flight_and_one_after_it():
    sent: list[str] = []
    release = asyncio.Event()

    async def send(payload: str) -> None:
        sent.append(payload)
        await release.wait()

    wakeup = RouterWakeup(send)
    wakeup.wake("m1")
    await asyncio.sleep(0)  # let the first NOTIFY start
    for n in range(2, 7):
        wakeup.wake(f"m{n}")
    assert sent == ["m1"]
    release.set()
    await wakeup.close()
    assert sent == ["m1", "m6"]


async def test_a_failed_notify_is_dropped_and_the_next_wake_tries_again():
    calls = 0

    async def send(payload: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError

    wakeup = RouterWakeup(send)
    wakeup.wake("a")
    await wakeup.close()
    wakeup.wake("b")
    await wakeup.close()
    assert calls == 2
