"""Phase 2, self-healing: K READY containers killed at once, each timed until READY again with a new instance
id, and where that time went (Docker's own exit time, the reconciler's start, the new instance's poll)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from _common.report import say, secs
from _common.stats import pct

from _reconcile.control_plane import ControlPlane
from _reconcile.monitor import Row, is_ready
from _reconcile.provisioning import Provisioned
from _reconcile.report import Report, spread, summarize_passes

TARGET_HEAL_P50 = 2.0


async def phase_self_healing(cp: ControlPlane, args, prov: Provisioned, report: Report) -> None:
    monitor = cp.monitor
    by_host: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for user in prov.users:
        if user in prov.ready and monitor.rows[user].container_id:
            by_host[monitor.rows[user].host_id].append(user)
    victims: list[uuid.UUID] = []
    while len(victims) < args.kill and any(by_host.values()):
        for users in by_host.values():
            if users and len(victims) < args.kill:
                victims.append(users.pop(0))
    say(f"self-healing: killing {len(victims)} READY containers at once ...")
    before = {u: monitor.rows[u] for u in victims}
    killed_at: dict[uuid.UUID, float] = {}

    def kill(user: uuid.UUID) -> None:
        killed_at[user] = time.time()
        cp.docker[before[user].host_id].api.kill(before[user].container_id)

    def back(user: uuid.UUID, row: Row) -> bool:
        return is_ready(user, row) and row.instance_id != before[user].instance_id

    started = time.time()
    waiter = asyncio.create_task(monitor.wait(victims, back, args.timeout))
    await asyncio.sleep(0)  # the watch is registered before the kills
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max(1, len(victims))) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, kill, u) for u in victims))
    seen = await waiter
    ended = time.time()
    healed = {u: seen[u] - killed_at[u] for u in seen}
    times = list(healed.values())
    say(f"  {len(healed)}/{len(victims)} READY again with a new instance id")
    report.row(
        f"2 Self-healing, {len(victims)} killed: back READY p50 / p95 / max",
        f"{secs(pct(times, 0.5))} / {secs(pct(times, 0.95))} / {secs(max(times, default=float('nan')))}",
        f"p50 <= {TARGET_HEAL_P50:g} s",
        pct(times, 0.5) <= TARGET_HEAL_P50 and len(healed) == len(victims),
    )

    calls = cp.calls.between(started, ended)
    restarted = {c.key for c in calls if c.method == "start" and c.ok}
    same = sum(1 for u in healed if monitor.rows[u].container_id == before[u].container_id)
    by_us = sum(1 for u in victims if before[u].container_id in restarted)
    d = report.detail
    why = (
        "a kill disables Docker's restart policy until the next start"
        if by_us >= len(healed)
        else "the others came back through Docker's restart policy"
    )
    d.append(
        f"Self-healing: {len(healed)}/{len(victims)} back, {same} in the same container; the reconciler started "
        f"{by_us} of them again ({why})."
    )
    d.append("  per container (s): " + ", ".join(f"{t:.2f}" for t in sorted(times)))
    died = await asyncio.to_thread(death_times, cp, before)
    steps: dict[str, list[float]] = defaultdict(list)
    for user in healed:
        starts = [c for c in calls if c.method == "start" and c.ok and c.key == before[user].container_id]
        polls = [p for _, inst, p in monitor.instance_changes[user] if inst != before[user].instance_id and p]
        if user in died:
            steps["kill() called -> the container exited (Docker)"].append(died[user] - killed_at[user])
        if starts and user in died:
            steps["exited -> the reconciler's start() call"].append(starts[0].started - died[user])
        if starts:
            steps["start() call took"].append(starts[0].ended - starts[0].started)
        if starts and polls:
            steps["start() returned -> new instance's first poll"].append(polls[0] - starts[0].ended)
        if polls:
            steps["that poll -> READY seen"].append(seen[user] - polls[0])
    d.append("  per container, p50 / p95 / max in seconds:")
    for label, values in steps.items():
        d.append(f"    {label:<48} {spread(values)}")
    d.append("  Reconciler passes during self-healing (time from the kills):")
    d += summarize_passes(cp.passes, started, ended)


def death_times(cp: ControlPlane, before: dict[uuid.UUID, Row]) -> dict[uuid.UUID, float]:
    """When each killed container exited, by dockerd's clock (State.FinishedAt survives the restart)."""
    out = {}
    for user, row in before.items():
        finished = cp.docker[row.host_id].api.inspect_container(row.container_id)["State"].get("FinishedAt") or ""
        stamp, _, fraction = finished.rstrip("Z").partition(".")
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
            out[user] = moment + float(f"0.{fraction or 0}")
    return out
