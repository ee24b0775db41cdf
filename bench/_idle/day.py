"""One simulated day of one config: a new user's assistant brought READY, a short conversation, then the
day's background work run on demand inside the container (`openclaw cron run <id> --wait`): heartbeats, the
daily memory job (dreaming) after the conversation and again with nothing new, the weekly skill review. Each
step's model calls are those the model behind the proxy received meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import msgspec
from sqlalchemy import func, select
from tests.harness.journey import onboard
from tests.harness.journey_support import ControlPlane, User, docker_call, message_calls
from tests.harness.openclaw_jobs import (
    CHECKLIST_LOG,
    DREAMING,
    HEARTBEAT,
    SKILL_REVIEW,
    checklist,
    job,
    run_job,
    set_checklist,
    wait_log,
)
from tests.harness.waiting import wait_for

from _idle.configs import AFTER, BEFORE
from _idle.model import Cost, IdleDayModel, cost_of, of_kind
from yourclaw.db.models import LlmSpendDaily
from yourclaw.kit.settings import Settings
from yourclaw.llm import purposes
from yourclaw.runtime import desired

CONVERSATION = (
    ("hi, remember my name is Ana", "Nice to meet you, Ana!"),
    ("I water my plants every Sunday morning", "Got it: plants on Sunday mornings."),
)
SOMETHING_TO_CHECK = "# Heartbeat checklist\n- Tell the user when the file parcel-delivered appears in the workspace\n"
# OpenClaw's side calls (recaps) may follow a reply by a moment: a step is over once no call came for this long.
QUIET_SECONDS = 4.0


@dataclass
class Day:
    which: str
    heartbeats_per_day: int
    waking_hours: str
    heartbeat: Cost = field(default_factory=Cost)
    heartbeat_outcomes: list[str] = field(default_factory=list)
    heartbeat_with_checklist: Cost | None = None
    recap_per_turn: Cost = field(default_factory=Cost)
    reply_per_turn: Cost = field(default_factory=Cost)
    dreaming_after_chat: Cost | None = None  # None: no dreaming job
    dreaming_idle: Cost | None = None
    skill_review: Cost | None = None  # None: the job is off
    spend: list[tuple[str, str, int, int]] = field(default_factory=list)  # purpose, model, calls, millicents

    def idle_day(self) -> Cost:
        day = self.heartbeat.times(self.heartbeats_per_day) + (self.dreaming_idle or Cost())
        return day + (self.skill_review.times(1 / 7) if self.skill_review else Cost())


def waking_hours(settings: Settings, which: str) -> tuple[int, str]:
    """Heartbeats a day and when: main ran them around the clock; now they keep to the hours outside the
    default QUIET_HOURS (the stack turns quiet hours off, so its forced runs are never held by the clock)."""
    if which == BEFORE:
        return 24, "around the clock"
    default = next(f.default for f in msgspec.structs.fields(Settings) if f.name == "quiet_hours")
    hours = desired.active_hours(msgspec.structs.replace(settings, quiet_hours=default))
    if hours is None:
        return 24, "around the clock"
    start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (hours.start, hours.end))
    return ((end - start) % (24 * 60)) // 60, f"{hours.start}-{hours.end}"


async def settled(model: IdleDayModel) -> int:
    """Waits until no model call came for QUIET_SECONDS; the number of calls so far."""
    loop_time = asyncio.get_running_loop().time
    seen = {"count": -1, "since": 0.0}

    def quiet() -> bool:
        count = len(message_calls(model))
        if count != seen["count"]:
            seen.update(count=count, since=loop_time())
        return loop_time() - seen["since"] >= QUIET_SECONDS

    await wait_for(quiet, timeout=300, interval=0.25, message="the model calls to settle")
    return len(message_calls(model))


async def _measure(cp: ControlPlane, container: str, job_id: str, outcomes: list[str] | None = None) -> Cost:
    model = cp.llm
    before = await settled(model)
    run = await docker_call(run_job, cp.oc, container, job_id, "15m")
    if outcomes is not None:
        outcomes.append(run.get("error") or run["status"])
    await settled(model)
    return cost_of(model, message_calls(model)[before:])


async def simulate(cp: ControlPlane, which: str, heartbeats: int) -> Day:
    model, oc = cp.llm, cp.oc
    day = Day(which, *waking_hours(cp.settings, which))
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        container = (await onboard(user)).row.container_id
        await wait_log(oc, container, CHECKLIST_LOG)
        heartbeat = await docker_call(job, oc, container, HEARTBEAT)
        if which == BEFORE:
            # Main's image started the gateway alone: the heartbeat had no checklist at all.
            await docker_call(set_checklist, oc, container, heartbeat["id"], None)

        start = await settled(model)
        for text, answer in CONVERSATION:
            await user.turn(text, answer)
        await settled(model)
        turns = message_calls(model)[start:]
        day.recap_per_turn = cost_of(model, of_kind(turns, "recap")).times(1 / len(CONVERSATION))
        day.reply_per_turn = cost_of(model, of_kind(turns, purposes.REPLY)).times(1 / len(CONVERSATION))

        total = Cost()
        for _ in range(heartbeats):
            total = total + await _measure(cp, container, heartbeat["id"], day.heartbeat_outcomes)
        day.heartbeat = total.times(1 / heartbeats)
        if which == AFTER:
            empty = await docker_call(checklist, oc, container, heartbeat["id"])
            await docker_call(set_checklist, oc, container, heartbeat["id"], SOMETHING_TO_CHECK)
            day.heartbeat_with_checklist = await _measure(cp, container, heartbeat["id"])
            await docker_call(set_checklist, oc, container, heartbeat["id"], empty)

        dreaming = await docker_call(job, oc, container, DREAMING)
        if dreaming is not None and dreaming["enabled"]:
            day.dreaming_after_chat = await _measure(cp, container, dreaming["id"])
            day.dreaming_idle = await _measure(cp, container, dreaming["id"])
        review = await docker_call(job, oc, container, SKILL_REVIEW)
        if review is not None and review["enabled"]:
            day.skill_review = await _measure(cp, container, review["id"])

        async with cp.sessions() as session:
            rows = await session.execute(
                select(
                    LlmSpendDaily.purpose,
                    LlmSpendDaily.model,
                    func.sum(LlmSpendDaily.calls),
                    func.sum(LlmSpendDaily.millicents),
                )
                .where(LlmSpendDaily.user_id == user.user_id)
                .group_by(LlmSpendDaily.purpose, LlmSpendDaily.model)
                .order_by(LlmSpendDaily.purpose, LlmSpendDaily.model)
            )
            day.spend = [(p, m, int(c), int(mc)) for p, m, c, mc in rows.all()]
    return day
