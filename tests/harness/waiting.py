"""Waiting on a condition with a deadline: never a sleep as synchronisation."""

from __future__ import annotations

import asyncio
import time


async def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll until `predicate()` (sync or async) is truthy; fail with `message` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def wait_for_sync(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """`wait_for` for synchronous tests (the browser layer drives Playwright's sync API)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
