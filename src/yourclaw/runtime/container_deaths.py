"""Containers a host's events say died while its container list may still say they run.

Docker 20.10 sends "die" while its container list still says "running" (for a few hundred ms, while it cleans
up). Remembering the death lets the pass the event wakes start the container at once instead of a pass later;
a `start` of a container Docker is already restarting is a no-op.
"""

from __future__ import annotations

import dataclasses
import time

from yourclaw.runtime.host_client import ObservedContainer

DIED_MEMORY = 5.0  # how long a "die" event overrides a list that still says "running"


class RecentDeaths:
    def __init__(self) -> None:
        self._died: dict[str, float] = {}

    def note(self, action: str, container_id: str) -> None:
        """A host's event: a death is remembered, a start forgets it."""
        if container_id and action == "die":
            self._died[container_id] = time.monotonic()
        elif container_id and action == "start":
            self._died.pop(container_id, None)

    def apply(self, observed: list[ObservedContainer]) -> list[ObservedContainer]:
        """The list with the containers that died recently shown as exited."""
        if not self._died:
            return observed
        horizon = time.monotonic() - DIED_MEMORY
        self._died = {cid: at for cid, at in self._died.items() if at > horizon}
        out = []
        for container in observed:
            if container.id in self._died:
                if container.running:
                    container = dataclasses.replace(container, state="exited", health=None)
                else:
                    self._died.pop(container.id)  # the list caught up
            out.append(container)
        return out
