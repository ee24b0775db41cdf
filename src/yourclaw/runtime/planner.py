"""plan(desired, observed) -> actions: the reconciler's decisions as a pure function (no I/O, no clock).

Level-triggered: it looks only at what is wanted and what is there now, so a missed event or a crash
between two passes costs one pass, never correctness.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from yourclaw.runtime import moves, pool
from yourclaw.runtime.actions import (
    Action,
    Create,
    Diagnose,
    Fail,
    RemoveContainer,
    RemoveVolume,
    Restart,
    SetObserved,
    Start,
    WriteConfig,
)
from yourclaw.runtime.host_client import ExitInfo, ObservedContainer, ObservedVolume

# Not used here, but the applier and the tests name every action `planner.X`, the pool's among them.
from yourclaw.runtime.moves import FinishMove, Move, Restore  # noqa: F401
from yourclaw.runtime.pool import CreatePool, DestroyPool, HandOff, TakeName, WarmUp  # noqa: F401

RETRY_BASE = timedelta(seconds=5)
RETRY_AFTER_ERROR = timedelta(hours=1)
# A READY assistant whose container its engine refuses to start (an engine shutting down answers the API but
# fails every start: "database not open", "failed to update store ...") stays READY, so its messages queue,
# and the start is retried with the restart backoff. Only starts that keep failing, at least this many over at
# least this long (a host down for a while in between does not count: it fails no start), replace the
# container on the same volume (a fresh endpoint and mounts), still READY. Never ERROR for it.
START_FAILURES_BEFORE_RECREATE = 5
START_FAILING_BEFORE_RECREATE = timedelta(minutes=5)


@dataclass(frozen=True)
class HostView:
    id: uuid.UUID
    name: str
    draining: bool
    max_containers: int
    reachable: bool  # answered this pass
    warm_pool: int = 0  # warm, unassigned containers to keep here


@dataclass(frozen=True)
class DesiredAssistant:
    id: uuid.UUID
    user_id: uuid.UUID
    wanted: bool
    status: str
    phase: str
    host_id: uuid.UUID | None
    container_id: str | None
    spec_hash: str  # what the container should carry now
    config_hash: str  # the freshly rendered config's hash
    stored_config_hash: str | None
    desired_generation: int
    written_generation: int | None
    last_poll_generation: int | None
    last_poll_at: datetime | None
    instance_id: str | None
    attempts: int
    next_retry_at: datetime | None
    recreate_requested_at: datetime | None
    deleted_at: datetime | None
    ready_at: datetime | None
    volume: str | None = None  # the user's volume when it came with a pool container
    template_hash: str = ""  # the container spec without its volume (what pool containers carry)
    handed_off_at: datetime | None = None
    phase_reason: str | None = None  # compared by `_set`, so an unchanged reason is no write (and no wake-up)
    move_requested_at: datetime | None = None  # an operator's move to another host (`runtime.moves`)
    move_to: uuid.UUID | None = None  # ... to this host (None: wherever there is room)
    moved_from: uuid.UUID | None = None  # the host a move left, cleaned up once READY here


@dataclass(frozen=True)
class StartFailures:
    """Failed starts of one READY assistant's container since its last good one (the reconciler's memory)."""

    count: int
    since: datetime


@dataclass(frozen=True)
class Observed:
    containers: dict[uuid.UUID, list[ObservedContainer]]  # reachable hosts only
    volumes: dict[uuid.UUID, list[ObservedVolume]] | None = None  # only on passes that look at volumes
    warmed: frozenset[str] = frozenset()  # pool containers whose warm-up turn finished
    warming: frozenset[str] = frozenset()  # ... running, or failed a short while ago
    failed_starts: dict[uuid.UUID, StartFailures] = field(default_factory=dict, hash=False)  # by assistant id


@dataclass(frozen=True)
class Limits:
    max_attempts: int
    provision_timeout: timedelta
    disconnect_after: timedelta
    orphan_grace: timedelta
    volume_retention: timedelta


# --- planning --------------------------------------------------------------------------------------


def choose_host(hosts: Iterable[HostView], load: dict[uuid.UUID, int], prefer: uuid.UUID | None) -> HostView | None:
    """Spread: the reachable, non-draining host with the largest share of free room. Assistants are
    memory-heavy (1-1.4 GB each), so spreading keeps headroom on every host and halves what one host
    failure takes down; a host that already holds the user's data volume wins, to keep their workspace."""
    candidates = [h for h in hosts if h.reachable and not h.draining and load.get(h.id, 0) < h.max_containers]
    if not candidates:
        return None
    for host in candidates:
        if host.id == prefer:
            return host
    return min(candidates, key=lambda h: (load.get(h.id, 0) / max(h.max_containers, 1), h.name))


def _set(a: DesiredAssistant, **values) -> list[Action]:
    changed = {k: v for k, v in values.items() if getattr(a, k, object()) != v}
    return [SetObserved(a.id, changed)] if changed else []


def _connected(a: DesiredAssistant, c: ObservedContainer, now: datetime, limits: Limits) -> bool:
    """A poll with the current generation from the current container (instance ids start with the
    container's hostname, which Docker sets to its short id) that is recent enough."""
    return (
        a.last_poll_generation == a.desired_generation
        and a.instance_id is not None
        and a.instance_id.startswith(c.short_id + "-")
        and a.last_poll_at is not None
        and now - a.last_poll_at <= limits.disconnect_after
    )


def _start_keeps_failing(failed: StartFailures | None, now: datetime) -> bool:
    return (
        failed is not None
        and failed.count >= START_FAILURES_BEFORE_RECREATE
        and now - failed.since >= START_FAILING_BEFORE_RECREATE
    )


def _plan_wanted(
    a: DesiredAssistant,
    host: HostView | None,
    mine: list[ObservedContainer],
    now: datetime,
    limits: Limits,
    failed: StartFailures | None = None,
) -> list[Action]:
    if host is None or not host.reachable:
        return _set(a, phase="unknown", phase_reason="its host is not answering") if a.host_id else []
    waiting = a.next_retry_at is not None and now < a.next_retry_at
    container = next((c for c in mine if c.id == a.container_id), mine[0] if mine else None)
    extra = [RemoveContainer(host.id, c.id, "duplicate") for c in mine if container and c.id != container.id]

    if a.status == "ERROR":
        if waiting:
            return extra + ([RemoveContainer(host.id, container.id, "failed")] if container else [])
        return extra + [Create(a.id, host.id, container.id if container else None, why="retry after error")]

    if container is None:
        if a.status == "READY":
            return extra + [Create(a.id, host.id, why="container disappeared")]
        return extra if waiting else extra + [Create(a.id, host.id)]

    recreate_asked = a.recreate_requested_at is not None and container.created < a.recreate_requested_at.timestamp()
    if recreate_asked or container.spec_hash != a.spec_hash:
        return extra + [Create(a.id, host.id, container.id, why="recreate" if recreate_asked else "spec changed")]

    actions: list[Action] = list(extra)
    if a.container_id != container.id:
        actions += _set(a, container_id=container.id)

    if container.state in ("created", "exited", "dead"):
        if waiting and (container.state != "created" or failed is not None):
            return actions  # restart backoff (a container whose start failed may still say "created")
        if _start_keeps_failing(failed, now):
            return actions + [Create(a.id, host.id, container.id, why="start failed")]
        stopped = container.state in ("exited", "dead")
        reason = f"the assistant {ExitInfo(container.exit_code).describe()}" if stopped else None
        actions.append(Start(a.id, host.id, container.id, reason))
        return actions
    if container.state == "restarting":
        if a.phase != "crash_loop":
            actions.append(Diagnose(a.id, host.id, container.id))
        return actions

    if a.config_hash != a.stored_config_hash or a.written_generation != a.desired_generation:
        actions.append(WriteConfig(a.id, host.id, container.id))
        return actions

    if _connected(a, container, now, limits):
        if a.status != "READY" or a.phase != "ready":
            reason = "its health check fails" if container.health == "unhealthy" else None
            actions += [
                SetObserved(
                    a.id,
                    {
                        "status": "READY",
                        "phase": "ready",
                        "phase_reason": reason,
                        "attempts": 0,
                        "last_error": None,
                        "next_retry_at": None,
                        "observed_generation": a.desired_generation,
                    },
                    became_ready=True,
                )
            ]
        return actions

    if a.status == "READY":
        silent = a.last_poll_at is None or now - a.last_poll_at > limits.disconnect_after
        stuck = a.last_poll_at is None or now - a.last_poll_at > 2 * limits.disconnect_after
        if silent and a.phase != "disconnected":
            actions += _set(a, phase="disconnected", phase_reason="the assistant has not checked in")
        elif a.phase == "disconnected" and stuck and not waiting:
            if _start_keeps_failing(failed, now):
                actions.append(Create(a.id, host.id, container.id, why="start failed"))
            else:
                actions.append(Restart(a.id, host.id, container.id))
        elif not silent and a.phase not in ("connecting", "reconfiguring", "restarting", "crash_loop"):
            actions += _set(a, phase="connecting", phase_reason=None)
        return actions

    # A pool container is older than its user's claim on it: their clock starts at the hand-off.
    since = max(container.created, a.handed_off_at.timestamp() if a.handed_off_at else 0.0)
    started_long_ago = now.timestamp() - since > limits.provision_timeout.total_seconds()
    if started_long_ago:
        seconds = int(limits.provision_timeout.total_seconds())
        return actions + [Fail(a.id, f"the assistant did not connect within {seconds} s", host.id, container.id)]
    if a.phase == "crash_loop":
        return actions  # up between two crashes: the loop stays visible until it connects
    return actions + _set(a, phase="connecting")


def plan(
    assistants: list[DesiredAssistant],
    hosts: list[HostView],
    observed: Observed,
    now: datetime,
    limits: Limits,
    *,
    pool_template: str | None = None,
    restores: dict[uuid.UUID, uuid.UUID] | None = None,
) -> list[Action]:
    """`pool_template` is the template hash pool containers must carry now (None: no pool at all); `restores`
    maps an assistant to its pending backup restore."""
    by_id = {h.id: h for h in hosts}
    # Who owns a container: its user label, or for a handed-off pool container the row that names it.
    claimed = {a.container_id: a.user_id for a in assistants if a.container_id}

    def owner_of(c: ObservedContainer) -> uuid.UUID | None:
        return c.user_id or claimed.get(c.id)

    wanted = {a.user_id: a for a in assistants if a.wanted}
    known = {a.user_id: a for a in assistants}
    load: dict[uuid.UUID, int] = {}
    for a in assistants:
        if a.wanted and a.host_id is not None:
            load[a.host_id] = load.get(a.host_id, 0) + 1
    volume_owner = {a.volume: a.user_id for a in assistants if a.volume}
    volume_host: dict[uuid.UUID, uuid.UUID] = {}
    for host_id, volumes in (observed.volumes or {}).items():
        for volume in volumes:
            owner = volume.user_id or volume_owner.get(volume.name)
            if owner is not None:
                volume_host.setdefault(owner, host_id)

    actions: list[Action] = []
    pools: dict[uuid.UUID, pool.HostPool] = {}
    for host in hosts:
        if host.id in observed.containers and host.reachable:
            room = host.max_containers - load.get(host.id, 0)
            pools[host.id], destroyed = pool.survey(
                host,
                observed.containers[host.id],
                claimed,
                pool_template,
                now,
                limits,
                room=room,
                warmed=observed.warmed,
                warming=observed.warming,
            )
            actions += destroyed

    volume_work, taken = moves.plan(
        assistants, by_id, observed.containers, load, restores or {}, now, choose_host, owner_of
    )
    actions += volume_work

    for a in assistants:
        if not a.wanted or a.id in taken:
            continue
        host = by_id.get(a.host_id) if a.host_id else None
        if a.host_id is None or host is None:
            if a.next_retry_at is not None and now < a.next_retry_at:
                continue
            has_volume = a.user_id in volume_host  # known on volume passes; `ready_at` covers the rest
            if pool.may_take_pool(a, pool_template, has_volume, now):
                handed = pool.hand_off(a, pools, load)
                if handed is not None:
                    actions.append(handed)
                    continue
            answering = [h for h in hosts if h.id in observed.containers]
            chosen = choose_host(answering, load, volume_host.get(a.user_id))
            if chosen is None:
                actions += _set(a, phase="placing", phase_reason="waiting for a host with room")
                continue
            load[chosen.id] = load.get(chosen.id, 0) + 1
            actions.append(Create(a.id, chosen.id))
            continue
        if host.reachable and host.id not in observed.containers:
            continue  # no answer this pass, but not yet unreachable: decide nothing on no information
        mine = [c for c in observed.containers.get(host.id, []) if owner_of(c) == a.user_id]
        unnamed = pool.needs_name(a, host.id, next((c for c in mine if c.id == a.container_id), None))
        if unnamed is not None:
            actions.append(unnamed)  # nothing more of theirs goes into it while it is named as the pool's
            continue
        actions += _plan_wanted(a, host, mine, now, limits, observed.failed_starts.get(a.id))

    for host_pool in pools.values():
        actions += pool.refill(host_pool, load)

    # Containers nobody wants here: a deleted assistant's go at once, strangers after a grace period
    # (a create can succeed while its answer is lost).
    for host_id, containers in observed.containers.items():
        for c in containers:
            if pool.is_pool(c, claimed):
                continue  # the pool's own, sorted by `pool.survey`
            user_id = owner_of(c)
            owner = wanted.get(user_id) if user_id else None
            if owner is not None and (owner.host_id == host_id or owner.moved_from == host_id):
                continue  # a move's old container goes with `FinishMove`, once the new one is READY
            row = known.get(user_id) if user_id else None
            deleted = row is not None and not row.wanted
            if deleted or now.timestamp() - c.created > limits.orphan_grace.total_seconds():
                # A handed-off pool container nobody's row names any more (its account deleted): its
                # volume holds that user's files and carries no user label, so it goes with it.
                volume = pool.orphan_volume(c, set(volume_owner)) if row is None else None
                actions.append(RemoveContainer(host_id, c.id, "deleted" if deleted else "orphan", volume))

    for a in assistants:
        if not a.wanted and a.phase != "none":
            anywhere = any(owner_of(c) == a.user_id for cs in observed.containers.values() for c in cs)
            if not anywhere and (a.host_id is None or a.host_id in observed.containers):
                actions.append(SetObserved(a.id, {"phase": "none", "host_server_id": None, "container_id": None}))

    for host_id, volumes in (observed.volumes or {}).items():
        if host_id not in observed.containers:
            continue  # what uses a volume is unknown without this host's containers
        in_use = {owner_of(c) for c in observed.containers[host_id]}
        for name in pool.stray_volumes(host_id, volumes, observed.containers[host_id], set(volume_owner)):
            actions.append(RemoveVolume(host_id, name))
        for volume in volumes:
            owner = volume.user_id or volume_owner.get(volume.name)
            if owner is None or owner in in_use:
                continue
            row = known.get(owner)
            if row is not None and row.wanted:
                continue
            expired = row is None or (row.deleted_at is not None and now - row.deleted_at > limits.volume_retention)
            if expired:
                actions.append(RemoveVolume(host_id, volume.name))
    return actions


def retry_delay(attempts: int) -> timedelta:
    return RETRY_BASE * (2 ** max(0, attempts - 1))
