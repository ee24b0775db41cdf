"""One Docker host as the reconciler's passes call it: its client, off the event loop and a few calls at a
time, and container starts in turns."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from yourclaw.runtime.host_client import HostClient


@dataclass
class HostHandle:
    row_id: uuid.UUID
    client: HostClient
    limiter: anyio.CapacityLimiter
    # Sized from the engine's CPUs when first needed (see `bring_back`).
    _start_slots: anyio.CapacityLimiter | None = field(default=None, init=False)

    async def call(self, fn: Callable, *args):
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self.limiter)

    async def bring_back(self, container_id: str, *, restart: bool = False) -> None:
        """Starts a stopped container again (restarts one with `restart`), one per two engine CPUs at a time.
        A start costs its engine about 0.3 CPU-seconds in about a quarter of a second (dockerd, containerd,
        runc and the kernel's namespaces and mounts work side by side): it keeps more than one CPU busy. All
        of a burst at once (a host's assistants after a crash) share the CPUs and every user waits as long
        as the last; in turns, the first are back soonest. A first start is not held back: the cold start
        that follows it dwarfs the wait, and a batch of new assistants is done sooner all at once."""
        if self._start_slots is None:
            cpus = await self.call(self.client.cpus)
            if self._start_slots is None:
                self._start_slots = anyio.CapacityLimiter(max(1, cpus // 2))
        async with self._start_slots:
            await self.call(self.client.restart if restart else self.client.start, container_id)
