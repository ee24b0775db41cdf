"""Phase 1, provisioning: N new users, paid, sign in and POST an assistant each at once; timed from the first
POST until all are READY, compared with the baseline, and broken down per assistant and per Docker call."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
from _common.report import say, secs
from _common.stats import pct
from tests.harness.rows import sign_in, subscribe

from _reconcile.baseline import BaselineResult
from _reconcile.control_plane import ControlPlane
from _reconcile.instruments import CallLog
from _reconcile.monitor import Monitor, is_ready
from _reconcile.report import Report, reconciler_activity, spread

TARGET_RATIO = 1.3  # reconciler / baseline


@dataclass
class Provisioned:
    users: list[uuid.UUID]
    posted: dict[uuid.UUID, float]
    post_seconds: list[float]
    ready: dict[uuid.UUID, float]
    started: float
    wall: float


async def provision(client: httpx.AsyncClient, sessions, monitor: Monitor, count: int, timeout: float) -> Provisioned:
    emails = [f"bench-{uuid.uuid4().hex[:12]}@example.com" for _ in range(count)]
    signed = await asyncio.gather(*(sign_in(client, email) for email in emails))
    # Paid already (as if Stripe's webhooks had landed), before the clock starts: an assistant needs it.
    for _, user_id in signed:
        await subscribe(sessions, user_id)
    posted: dict[uuid.UUID, float] = {}
    post_seconds: list[float] = []

    async def post(headers: dict, user_id: uuid.UUID) -> None:
        posted[user_id] = time.time()
        response = await client.post("/api/v1/assistants", headers=headers)
        for _ in range(5):  # a well-behaved client: an overloaded API says when to come back
            if response.status_code != 503:
                break
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            response = await client.post("/api/v1/assistants", headers=headers)
        post_seconds.append(time.time() - posted[user_id])
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/v1/assistants answered {response.status_code}: {response.text[:200]}")

    users = [user_id for _, user_id in signed]
    started = time.time()
    ready_task = asyncio.create_task(monitor.wait(users, is_ready, timeout))
    await asyncio.gather(*(post(headers, user_id) for headers, user_id in signed))
    ready = await ready_task
    wall = (max(ready.values()) - started) if len(ready) == len(users) else float("nan")
    return Provisioned(users, posted, post_seconds, ready, started, wall)


@dataclass
class Breakdown:
    post_to_create: list[float]
    docker_work: list[float]  # first Docker call for it -> start() returned
    start_to_poll: list[float]
    poll_to_ready: list[float]


def breakdown(prov: Provisioned, calls: CallLog, monitor: Monitor) -> Breakdown:
    create_at: dict[str, float] = {}
    start_done: dict[str, float] = {}
    for call in calls.between(prov.started - 1, prov.started + 3600):
        if call.method == "create" and call.key:
            create_at.setdefault(call.key, call.started)
        elif call.method == "start" and call.ok and call.key in calls.user_of:
            start_done.setdefault(calls.user_of[call.key], call.ended)
    out = Breakdown([], [], [], [])
    for user in prov.users:
        key = str(user)
        if key in create_at:
            out.post_to_create.append(create_at[key] - prov.posted[user])
        if key in create_at and key in start_done:
            out.docker_work.append(start_done[key] - create_at[key])
        poll = monitor.first_poll_at.get(user)
        if key in start_done and poll is not None:
            out.start_to_poll.append(poll - start_done[key])
        if poll is not None and user in prov.ready:
            out.poll_to_ready.append(prov.ready[user] - poll)
    return out


async def phase_provisioning(cp: ControlPlane, args, base: BaselineResult, report: Report) -> Provisioned:
    say(f"reconciler: {args.assistants} assistants, POST to READY ...")
    prov = await provision(cp.client, cp.sessions, cp.monitor, args.assistants, args.timeout)
    end = prov.started + (prov.wall if prov.wall == prov.wall else args.timeout)
    say(f"  {len(prov.ready)}/{args.assistants} READY, last after {secs(prov.wall)}")
    per = [prov.ready[u] - prov.posted[u] for u in prov.ready]
    ratio = prov.wall / base.wall if base.wall == base.wall and prov.wall == prov.wall else float("nan")
    report.row(f"1 Provisioning {args.assistants}: reconciler, first POST -> last READY", secs(prov.wall))
    report.row(f"  baseline docker-py, first create -> last first poll ({base.count} polled)", secs(base.wall))
    report.row("  ratio reconciler / baseline", f"{ratio:.2f}", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO)
    report.row("  per assistant p50 / p95 (POST -> READY)", f"{secs(pct(per, 0.5))} / {secs(pct(per, 0.95))}")
    report.row(
        "  baseline per container p50 / p95 (batch start -> first poll)",
        f"{secs(pct(base.per_container, 0.5))} / {secs(pct(base.per_container, 0.95))}",
    )
    if len(prov.ready) < args.assistants:
        report.notes.append(
            f"only {len(prov.ready)} of {args.assistants} assistants became READY in {args.timeout:g} s"
        )

    bd = breakdown(prov, cp.calls, cp.monitor)
    d = report.detail
    d.append(f"Provisioning breakdown ({args.assistants} assistants), per assistant p50 / p95 / max in seconds:")
    steps = [
        ("reconciler", "POST answered (202)", prov.post_seconds),
        ("reconciler", "POST -> its first Docker call", bd.post_to_create),
        ("reconciler", "first Docker call -> start() returned", bd.docker_work),
        ("reconciler", "start() returned -> first poll (DB clock)", bd.start_to_poll),
        ("reconciler", "first poll -> READY seen", bd.poll_to_ready),
        ("baseline", "batch start -> its first Docker call", base.queued),
        ("baseline", "first Docker call -> start() returned", base.docker_work),
        ("baseline", "start() returned -> first poll", base.start_to_poll),
    ]
    d += [f"    {who:<10} {label:<42} {spread(values)}" for who, label, values in steps]
    if base.failures:
        d.append(f"    baseline failures: {len(base.failures)}, e.g. {base.failures[0]}")
    d += reconciler_activity(cp.passes, cp.calls, prov.started, end, "during provisioning", "the first POST")
    return prov
