"""The warm pool, planned: started containers no user owns yet, kept per host so a new user's assistant is
a config write away instead of a cold start (pure, like `planner`, which calls it).

What keeps one user's data from another: a pool container is made with a fresh volume and a placeholder
config, is handed out at most once (its id and volume are recorded on the user's row, both unique), and one
that dies, drifts from the current image or stays unclaimed on a draining host is destroyed with its
volume, never put back. Its hand-off renames it after the user before anything of theirs is written, and
only a container still under its pool name is the pool's: one whose row is gone (an account deleted) is
then an orphan, removed with its volume, never a pool container handed to the next user. Only users with
no volume anywhere take one: a recreate, a move or an upgrade goes the cold way onto the user's own volume.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from yourclaw.runtime.container_spec import container_name, has_pool_name, pool_volume_name
from yourclaw.runtime.host_client import ObservedContainer, ObservedVolume

if TYPE_CHECKING:
    from yourclaw.runtime.planner import DesiredAssistant, HostView, Limits


@dataclass(frozen=True)
class CreatePool:
    """One more warm container on this host (a fresh pool id, a fresh volume, the placeholder config)."""

    host_id: uuid.UUID
    slot: int


@dataclass(frozen=True)
class HandOff:
    """This pool container and its volume become the user's: recorded first, then their config written."""

    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str
    volume: str


@dataclass(frozen=True)
class TakeName:
    """A handed-off container still under its pool name (its hand-off's rename failed): renamed after its
    user before anything else is done to it."""

    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str
    name: str


@dataclass(frozen=True)
class DestroyPool:
    """An unclaimed pool container removed with its volume (dead, outdated, surplus, on a draining host)."""

    host_id: uuid.UUID
    container_id: str
    volume: str
    reason: str


@dataclass(frozen=True)
class WarmUp:
    """Run the pool container's first agent turn now, in a session of its own (answered by the proxy
    locally), so its user's first turn does not pay OpenClaw's lazy setup."""

    host_id: uuid.UUID
    container_id: str


@dataclass
class HostPool:
    """One host's unclaimed pool during a pass: `ready` is what may be handed out, oldest (warmest) first."""

    host: HostView
    size: int
    ready: list[ObservedContainer]
    live: int  # unclaimed containers kept (ready or still starting)


def is_pool(c: ObservedContainer, claimed: dict[str, uuid.UUID]) -> bool:
    """Unclaimed pool: made for the pool, never renamed by a hand-off, and named by no row."""
    return c.pool_id is not None and has_pool_name(c.name) and c.id not in claimed


def needs_name(a: DesiredAssistant, host_id: uuid.UUID, container: ObservedContainer | None) -> TakeName | None:
    """The rename a hand-off did not finish, for the user's container when it still has its pool name."""
    if container is None or container.pool_id is None or not has_pool_name(container.name):
        return None
    return TakeName(a.id, host_id, container.id, container_name(a.user_id))


def orphan_volume(c: ObservedContainer, owned: set[str]) -> str | None:
    """The pool volume a handed-off container whose row is gone takes with it (unless a row names it)."""
    if c.pool_id is None:
        return None
    volume = pool_volume_name(c.pool_id)
    return None if volume in owned else volume


def survey(
    host: HostView,
    containers: list[ObservedContainer],
    claimed: dict[str, uuid.UUID],
    template: str | None,
    now: datetime,
    limits: Limits,
    *,
    room: int,
    warmed: frozenset[str] = frozenset(),
    warming: frozenset[str] = frozenset(),
) -> tuple[HostPool, list[DestroyPool | WarmUp]]:
    """Sorts a host's unclaimed pool containers into kept and destroyed. Users come first: a pool that
    no longer fits beside them (`room`, the host's free places) shrinks."""
    size = 0 if host.draining or template is None else host.warm_pool
    keep_at_most = max(0, min(size, room))
    kept: list[ObservedContainer] = []
    destroy: list[DestroyPool | WarmUp] = []
    for c in sorted((c for c in containers if is_pool(c, claimed)), key=lambda c: (c.created, c.id)):
        volume = pool_volume_name(c.pool_id)  # type: ignore[arg-type]
        age = now.timestamp() - c.created
        if host.draining:
            reason = "host draining"
        elif template is None:
            reason = "no pool wanted"
        elif c.template_hash != template:
            reason = "outdated"
        elif c.state in ("exited", "dead", "restarting"):
            reason = "died"  # never restarted: a fresh one replaces it
        elif c.state == "created" and age > limits.orphan_grace.total_seconds():
            reason = "never started"
        else:
            reason = None
        if reason is None and len(kept) >= keep_at_most:
            reason = "surplus"
        if reason is not None:
            destroy.append(DestroyPool(host.id, c.id, volume, reason))
        else:
            kept.append(c)
    # Warmed first; one still warming is handed out only when nothing else is left (its turn would run on
    # into the user's config), and one whose warm-up failed is still better than a cold start.
    running = [c for c in kept if c.running]
    ready = [c for c in running if c.id in warmed] + [c for c in running if c.id not in warmed | warming]
    ready += [c for c in running if c.id in warming and c.id not in warmed]
    warm_ups = [WarmUp(host.id, c.id) for c in running if c.id not in warmed and c.id not in warming]
    return HostPool(host, size, ready, len(kept)), destroy + warm_ups


def may_take_pool(a: DesiredAssistant, template: str | None, has_volume: bool, now: datetime) -> bool:
    """A user who never had an assistant running and has no volume anywhere: nothing of theirs to keep."""
    return (
        template is not None
        and a.wanted
        and a.host_id is None
        and a.container_id is None
        and a.volume is None
        and a.ready_at is None
        and a.attempts == 0
        and a.status != "ERROR"
        and a.template_hash == template
        and not has_volume
        and (a.next_retry_at is None or now >= a.next_retry_at)
    )


def hand_off(a: DesiredAssistant, pools: dict[uuid.UUID, HostPool], load: dict[uuid.UUID, int]) -> HandOff | None:
    """The warmest ready container on the host with the largest share of free room that has one."""
    candidates = [p for p in pools.values() if p.ready and p.host.reachable and not p.host.draining]
    if not candidates:
        return None
    pool = min(candidates, key=lambda p: (load.get(p.host.id, 0) / max(p.host.max_containers, 1), p.host.name))
    c = pool.ready.pop(0)
    pool.live -= 1
    load[pool.host.id] = load.get(pool.host.id, 0) + 1
    return HandOff(a.id, pool.host.id, c.id, pool_volume_name(c.pool_id))  # type: ignore[arg-type]


def refill(pool: HostPool, load: dict[uuid.UUID, int]) -> list[CreatePool]:
    """Up to the pool's size, within the host's room (pool containers count against `max_containers`)."""
    room = pool.host.max_containers - load.get(pool.host.id, 0) - pool.live
    missing = min(pool.size - pool.live, room)
    return [CreatePool(pool.host.id, pool.live + i) for i in range(max(0, missing))]


def stray_volumes(
    host_id: uuid.UUID,
    volumes: list[ObservedVolume],
    containers: list[ObservedContainer],
    owned: set[str],
) -> list[str]:
    """Pool volumes that no row owns and no container of their pool uses: left by a destroy cut short."""
    pools_here = {c.pool_id for c in containers if c.pool_id is not None}
    return [v.name for v in volumes if v.pool_id is not None and v.name not in owned and v.pool_id not in pools_here]
