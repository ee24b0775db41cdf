"""A host's restarts go one per two engine CPUs at a time; first starts are not held back."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest

from tests.harness.waiting import wait_for
from yourclaw.runtime.host_handle import HostHandle

pytestmark = pytest.mark.unit


class Engine:
    """Stands in for the Docker engine: each start blocks until released, and is counted meanwhile."""

    name = "engine"

    def __init__(self, cpus: int) -> None:
        self._cpus = cpus
        self.api_calls = 0
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()
        self.release = threading.Event()

    def cpus(self) -> int:
        return self._cpus

    def start(self, container_id: str) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1

    restart = start


@pytest.mark.parametrize(("cpus", "at_once"), [(4, 2), (5, 2), (1, 1)])
async def test_restarts_run_one_per_two_engine_cpus_and_all_of_them_finish(cpus, at_once):
    engine = Engine(cpus=cpus)
    handle = HostHandle(None, engine, anyio.CapacityLimiter(8))
    restarts = [asyncio.create_task(handle.bring_back(f"c{i}")) for i in range(6)]
    await wait_for(lambda: engine.running == at_once, message=f"{at_once} restarts under way")
    assert engine.most == at_once
    engine.release.set()
    await asyncio.gather(*restarts)
    assert engine.most == at_once and engine.running == 0


async def test_first_starts_share_only_the_host_limiter():
    engine = Engine(cpus=1)
    handle = HostHandle(None, engine, anyio.CapacityLimiter(4))
    starts = [asyncio.create_task(handle.call(engine.start, f"c{i}")) for i in range(6)]
    await wait_for(lambda: engine.running == 4, message="four first starts under way")
    engine.release.set()
    await asyncio.gather(*starts)
    assert engine.most == 4
