"""Planning the work on a user's volume itself (pure, like the rest of `runtime.planner`): moving an assistant
to another host, volume and all (`yourclaw hosts evacuate`), and restoring a backup into it
(`yourclaw backups restore`). `runtime.volume_apply` carries the actions out.

A move, one assistant at a time across the fleet: `Move` stops the container, streams the volume to the new
host and places the row there with no container; the ordinary planning then creates the container on the new
host (READY all along, so the user's messages wait in their queue and are answered after, once); `FinishMove`
removes the old container and volume only once the assistant is READY on the new host. The next move starts
only then. A restore (`Restore`) takes the assistant's turn in the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yourclaw.runtime.host_client import ObservedContainer
    from yourclaw.runtime.planner import DesiredAssistant, HostView


@dataclass(frozen=True)
class Move:
    assistant_id: uuid.UUID
    host_id: uuid.UUID  # where it is
    to_host_id: uuid.UUID
    container_id: str | None  # stopped first; kept until the move is finished


@dataclass(frozen=True)
class FinishMove:
    """READY on its new host: the old host's containers of the user and their volume go."""

    assistant_id: uuid.UUID
    from_host_id: uuid.UUID
    container_ids: tuple[str, ...]


@dataclass(frozen=True)
class Restore:
    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str | None
    restore_id: uuid.UUID


def _ready(a: DesiredAssistant) -> bool:
    return a.status == "READY" and a.phase == "ready"


def plan(
    assistants: Iterable[DesiredAssistant],
    hosts: dict[uuid.UUID, HostView],
    containers: dict[uuid.UUID, list[ObservedContainer]],
    load: dict[uuid.UUID, int],
    restores: dict[uuid.UUID, uuid.UUID],
    now: datetime,
    choose_host: Callable,
    owner_of: Callable,
) -> tuple[list, set[uuid.UUID]]:
    """The volume work to do now, and the assistants it takes this pass (nothing else is planned for them).
    `containers` holds the hosts that answered; `restores` maps an assistant to its pending restore."""
    actions: list = []
    taken: set[uuid.UUID] = set()
    wanted = [a for a in assistants if a.wanted]

    def answered(host_id: uuid.UUID | None) -> bool:
        host = hosts.get(host_id) if host_id else None
        return host is not None and host.reachable and host.id in containers

    def container_of(a: DesiredAssistant) -> str | None:
        mine = [c for c in containers.get(a.host_id, []) if owner_of(c) == a.user_id]
        return next((c.id for c in mine if c.id == a.container_id), mine[0].id if mine else None)

    for a in wanted:
        if a.moved_from and a.moved_from != a.host_id and _ready(a) and answered(a.moved_from):
            left = tuple(c.id for c in containers[a.moved_from] if owner_of(c) == a.user_id)
            actions.append(FinishMove(a.id, a.moved_from, left))
    # A move on its way (the new container not READY yet) holds back the next one.
    busy = any(a.moved_from and a.moved_from != a.host_id and a.status == "READY" and not _ready(a) for a in wanted)

    for a in wanted:
        if a.id in restores and a.phase != "moving" and answered(a.host_id):
            actions.append(Restore(a.id, a.host_id, container_of(a), restores[a.id]))
            taken.add(a.id)
    if busy:
        return actions, taken

    # One at a time: a move interrupted half-way (phase "moving", still on its old host) is taken up first.
    waiting = sorted(
        (a for a in wanted if a.move_requested_at is not None and a.host_id is not None and a.id not in taken),
        key=lambda a: (a.phase != "moving", a.move_requested_at),
    )
    for a in waiting:
        if not answered(a.host_id) or (a.next_retry_at is not None and now < a.next_retry_at):
            continue
        others = [h for h in hosts.values() if h.id != a.host_id and h.id in containers]
        if a.move_to is not None:
            others = [h for h in others if h.id == a.move_to]
        target = choose_host(others, load, None)
        if target is None:
            continue  # nowhere to go now (the row's phase says so only when the move starts)
        load[target.id] = load.get(target.id, 0) + 1
        actions.append(Move(a.id, a.host_id, target.id, container_of(a)))
        taken.add(a.id)
        break
    return actions, taken
