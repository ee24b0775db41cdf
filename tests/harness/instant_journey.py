"""A new user's way to a first reply, short: pay -> READY -> the "ready" WhatsApp -> first and second reply ->
an image upgrade, measured the same way whether the assistant comes from the warm pool or a cold start
(bench/openclaw_e2e.py --instant walks both in one run)."""

from __future__ import annotations

import asyncio
import time

import docker.errors
from sqlalchemy import update

from tests.harness.journey import Figures, onboard
from tests.harness.journey_support import (
    STEP_TIMEOUT,
    User,
    docker_call,
    first_log,
    inspect,
    log_lines,
    memory_usage,
)
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant
from yourclaw.runtime.container_spec import LABEL_POOL

POOL_WARM_TIMEOUT = 180.0


async def _stopped_at(oc, container_id: str) -> float | None:
    """Now, if the container no longer runs (stopped or gone)."""
    try:
        running = (await docker_call(inspect, oc, container_id))["State"]["Running"]
    except docker.errors.NotFound:
        running = False
    return None if running else time.time()


def _pool_containers(oc) -> list[str]:
    return [c.id for c in oc.client.containers.list(filters={"label": LABEL_POOL}, sparse=True)]


async def wait_for_warm_pool(user: User, size: int) -> list[str]:
    """Until `size` pool containers run a gateway whose plugin started polling (with the placeholder token,
    which nobody answers): what a pool that had time to fill looks like."""
    oc = user.cp.oc

    async def warm() -> list[str] | None:
        ids = await docker_call(_pool_containers, oc)
        if len(ids) < size:
            return None
        for cid in ids:
            if first_log(await docker_call(log_lines, oc, cid), "[yourclaw] polling as") is None:
                return None
        return ids

    return await wait_for(warm, timeout=POOL_WARM_TIMEOUT, interval=0.5, message="a warm pool")


async def wait_for_warm_up(user: User, pool: list[str], figures: Figures) -> None:
    """Until the reconciler ran the pool's warm-up turn (noted, not required: a pool container whose warm-up
    failed is still handed out, and the first reply then shows it)."""
    state = user.cp.reconciler.warm_state
    try:
        await wait_for(lambda: set(pool) <= state.warmed, timeout=POOL_WARM_TIMEOUT, interval=0.5, message="warm-up")
        figures.note("pool warm-up turn", "done")
    except AssertionError:
        figures.note("pool warm-up turn", "NOT done")


async def walk_instant(user: User, figures: Figures, *, warm: bool) -> None:
    cp, oc = user.cp, user.cp.oc
    if warm:
        pool = await wait_for_warm_pool(user, 1)
        await wait_for_warm_up(user, pool, figures)
        figures.note("memory of an idle pool container", await docker_call(memory_usage, oc, pool[0]))
    onboarded = await onboard(user)
    row = onboarded.row
    if warm:
        assert row.volume is not None and row.container_id in pool, "the assistant did not come from the pool"
    figures.span("paid -> READY", onboarded.paid_at, onboarded.ready_seen)
    figures.span("READY -> 'ready' WhatsApp at Twilio", onboarded.ready_seen, onboarded.ready_message.seen_at)

    first = await user.turn("hi, remember my name is Ana", "Nice to meet you, Ana!")
    figures.span("first reply (webhook -> reply at Twilio)", first.asked_at, first.reply.seen_at)
    figures.span("  first: webhook -> the agent's LLM call", first.asked_at, first.call_at)
    second = await user.turn("what is my name?", "Your name is Ana.")
    figures.span("second reply (webhook -> reply at Twilio)", second.asked_at, second.reply.seen_at)
    figures.span("  second: webhook -> the agent's LLM call", second.asked_at, second.call_at)

    # An image upgrade. "downtime": from the image change until READY on the new container; "away": from the
    # old container's stop, which is the part a new container's start-up makes (its OpenClaw boot and first poll).
    upgraded_at = time.time()
    async with transaction(cp.sessions) as session:
        await session.execute(update(Assistant).where(Assistant.user_id == user.user_id).values(image=oc.upgrade_image))
    cp.reconciler.wake()
    stopped = asyncio.create_task(
        wait_for(lambda: _stopped_at(oc, row.container_id), timeout=STEP_TIMEOUT * 4, interval=0.1, message="stop")
    )
    try:
        after = await user.ready(other_than=row.container_id, timeout=STEP_TIMEOUT * 4)
    except BaseException:
        stopped.cancel()
        raise
    back_at = time.time()
    figures.span("image upgrade: downtime (image changed -> READY again)", upgraded_at, back_at)
    figures.span("image upgrade: away (old container stopped -> READY again)", await stopped, back_at)
    assert after.volume == row.volume  # the same volume: the workspace and conversation came along
    again = await user.turn("do you still know my name?", "Yes, Ana.")
    figures.span("after upgrade: reply (webhook -> Twilio)", again.asked_at, again.reply.seen_at)
