"""Phase 3, the idle pass: filled up to M READY assistants, the loop stopped, a fresh Reconciler runs
`run_pass(volumes=False)` on the converged state, counting Docker calls, wall time and actions; and where an
idle pass's time goes, step by step."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

from _common.report import say, secs
from _common.stats import pct

from _reconcile.control_plane import ControlPlane
from _reconcile.instruments import CallLog, timed_factory
from _reconcile.lab import Lab
from _reconcile.monitor import is_ready
from _reconcile.provisioning import provision
from _reconcile.report import Report, reconciler_activity
from yourclaw.kit.crypto import SecretBox
from yourclaw.protocol import tokens as assistant_tokens
from yourclaw.runtime import desired, planner
from yourclaw.runtime import repository as runtime_repo
from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler

TARGET_IDLE_CALLS = 2  # one list per engine
TARGET_IDLE_SECONDS = 0.5


async def phase_fill(cp: ControlPlane, args, report: Report) -> int:
    extra = max(0, args.idle_total - args.assistants)
    say(f"idle pass: adding {extra} assistants for {args.idle_total} READY ...")
    if extra:
        more = await provision(cp.client, cp.sessions, cp.monitor, extra, args.fill_timeout)
        end = more.started + (more.wall if more.wall == more.wall else args.fill_timeout)
        per = [more.ready[u] - more.posted[u] for u in more.ready]
        d = report.detail
        d.append(
            f"Filling up: {len(more.ready)}/{extra} more READY, last after {secs(more.wall)}; per assistant "
            f"p50 {secs(pct(per, 0.5))}, p95 {secs(pct(per, 0.95))}."
        )
        d += reconciler_activity(cp.passes, cp.calls, more.started, end, "while filling up", "the first POST")
    total = sum(1 for u, r in cp.monitor.rows.items() if is_ready(u, r))
    say(f"  {total} READY in all")
    if total < args.idle_total:
        report.notes.append(f"only {total} of {args.idle_total} assistants were READY for the idle passes")
    return total


async def phase_idle(cp: ControlPlane, args, lab: Lab, total_ready: int, report: Report) -> None:
    # The loop stops (its lock goes with it), and so do the benchmark's own 20 queries a second.
    cp.stop_loop.set()
    await asyncio.wait_for(cp.loop_task, 60)
    cp.stop_monitor.set()
    await asyncio.wait_for(cp.monitor_task, 10)
    await asyncio.sleep(args.settle)  # the last starts' aftermath (events, first probes, poll writes) dies down
    calls = CallLog()
    second = Reconciler(cp.settings, cp.sessions, SecretBox(cp.settings.fernet_keys), timed_factory(cp.settings, calls))
    try:
        warm = await second.run_pass(volumes=False)
        reports, spans = [], []
        for _ in range(args.idle_passes):
            began = time.time()
            reports.append(await second.run_pass(volumes=False))
            spans.append((began, time.time()))
    finally:
        second.close()
    slowest_list = [
        max((c.ended - c.started for c in calls.between(a, b) if c.method == "list_containers"), default=0.0)
        for a, b in spans
    ]
    seconds = [r.seconds for r in reports]
    api = [r.api_calls for r in reports]
    actions = Counter(type(a).__name__ for r in reports for a in r.actions)
    n_actions = sum(actions.values())
    lists = [c.ended - c.started for c in calls.calls if c.method == "list_containers"][len(lab.engines) :]
    report.row(
        f"3 Idle pass, {total_ready} READY on {len(lab.engines)} engines: Docker API calls per pass",
        f"{min(api)}..{max(api)}" if min(api) != max(api) else str(min(api)),
        f"== {TARGET_IDLE_CALLS}",
        min(api) == max(api) == TARGET_IDLE_CALLS,
    )
    report.row(
        "  pass wall time p50 / max",
        f"{secs(pct(seconds, 0.5))} / {secs(max(seconds))}",
        f"<= {TARGET_IDLE_SECONDS:g} s",
        max(seconds) <= TARGET_IDLE_SECONDS,
    )
    report.row(
        f"  actions over {len(reports)} passes",
        str(n_actions) + (f" ({dict(actions)})" if actions else ""),
        "== 0",
        n_actions == 0,
    )
    d = report.detail
    d.append(
        f"Idle passes: the loop stopped, {args.settle:g} s of quiet, one warm-up pass of a new Reconciler object (it "
        f"opens the TLS connections: {warm.api_calls} calls, {warm.seconds:.2f} s, {len(warm.actions)} actions), then "
        f"{len(reports)} measured. List call per engine p50 {secs(pct(lists, 0.5))}, "
        f"max {secs(max(lists, default=float('nan')))}."
    )
    d.append(
        "  per pass, s (the slower of its two list calls): "
        + ", ".join(f"{s:.3f} ({x:.3f})" for s, x in zip(seconds, slowest_list, strict=True))
    )
    d += await idle_anatomy(cp.settings, cp.sessions, cp.reconciler.limits)


async def idle_anatomy(settings, sessions, limits, rounds: int = 5) -> list[str]:
    """Where an idle pass's time goes, step by step, with the reconciler's own functions (no Docker calls
    timed here: one list per engine is taken once beforehand)."""
    secrets = SecretBox(settings.fernet_keys)
    async with sessions() as session:
        host_rows = await runtime_repo.load_hosts(session)
    clients = {h.id: host_factory(settings)(h) for h in host_rows}
    try:
        containers = {hid: await asyncio.to_thread(c.list_containers) for hid, c in clients.items()}
    finally:
        for c in clients.values():
            c.close()
    steps: dict[str, list[float]] = defaultdict(list)
    n_rows = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        async with sessions() as session:
            hosts = await runtime_repo.load_hosts(session)
            loaded = await runtime_repo.load_assistants(session, volume_retention=limits.volume_retention)
            t1 = time.perf_counter()
            token_for = await assistant_tokens.current_tokens(session, secrets)
        t2 = time.perf_counter()
        by_id = {h.id: h for h in hosts}
        wanted = [
            desired.to_desired(
                row,
                desired.render(
                    settings,
                    row,
                    token_for.get(row.id),
                    by_id.get(row.host_server_id),
                    row.desired_generation,
                    timezone=timezone,
                ),
            )
            for row, timezone in loaded
        ]
        t3 = time.perf_counter()
        views = [planner.HostView(h.id, h.name, h.draining, h.max_containers, True) for h in hosts]
        planner.plan(wanted, views, planner.Observed(containers), datetime.now(UTC), limits)
        t4 = time.perf_counter()
        n_rows = len(loaded)
        steps["load hosts + assistants rows (ORM)"].append(t1 - t0)
        steps["load + decrypt current tokens"].append(t2 - t1)
        steps["render config + spec hash per row"].append(t3 - t2)
        steps["plan"].append(t4 - t3)
    lines = [f"  Idle pass anatomy ({n_rows} rows, p50 of {rounds} rounds, same process and load as the passes):"]
    for label, values in steps.items():
        lines.append(f"    {label:<40} {statistics.median(values) * 1000:7.1f} ms")
    return lines
