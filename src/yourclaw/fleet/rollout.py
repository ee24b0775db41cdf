"""`yourclaw rollout IMAGE`: a new assistant image, a wave at a time.

Each wave (WAVE percent of the assistants still to move, at least one) is put on the new image; the reconciler
recreates their containers (their volumes stay; a message arriving meanwhile waits in the queue and is answered
once the assistant is back). The wave is done when each of them is READY on a new container, or has failed
(provisioning ERROR, a failed or crash-looping phase, or not READY within the wave's timeout). Failures above
the threshold (a fraction of the wave) halt the rollout: the whole wave goes back to its previous image, and the
assistants of later waves were never touched, so the fleet stays on the old one. Progress is kept in
`rollouts` and `rollout_members`, which `yourclaw rollout status` reads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.engine import transaction
from yourclaw.db.models import Rollout, RolloutMember
from yourclaw.fleet import repository as repo
from yourclaw.fleet.repository import MemberState
from yourclaw.kit.settings import Settings

FAILED_PHASES = ("failed", "crash_loop")


class RolloutRefused(Exception):
    """Another rollout is running, or the arguments make no sense; the message says which."""


@dataclass(frozen=True)
class Plan:
    image: str
    wave_percent: float = 10.0
    failure_threshold: float = 0.2  # more than this fraction of a wave failing halts the rollout
    wave_timeout: float = 300.0
    poll_seconds: float = 1.0


def wave_sizes(total: int, percent: float) -> list[int]:
    size = max(1, math.ceil(total * percent / 100))
    return [min(size, total - start) for start in range(0, total, size)]


def judge(member: MemberState) -> str | None:
    """READY, FAILED, or None while the assistant is still on its way."""
    if member.status == "READY" and member.phase == "ready" and member.container_id != member.previous_container_id:
        return "READY"
    if member.status == "ERROR" or member.phase in FAILED_PHASES:
        return "FAILED"
    return None


async def start(sessions: async_sessionmaker[AsyncSession], settings: Settings, plan: Plan) -> Rollout:
    if not 0 < plan.wave_percent <= 100:
        raise RolloutRefused("--wave is a percentage of the assistants: more than 0, at most 100")
    if not 0 <= plan.failure_threshold < 1:
        raise RolloutRefused("--max-failures is a fraction of a wave: at least 0, below 1")
    async with transaction(sessions) as session:
        if (current := await repo.running(session)) is not None:
            raise RolloutRefused(
                f"a rollout to {current.image} is running; wait for it or see `yourclaw rollout status`"
            )
        assistants = await repo.to_move(session, plan.image, settings.assistant_image)
        sizes = wave_sizes(len(assistants), plan.wave_percent)
        rollout = Rollout(
            image=plan.image,
            wave_percent=plan.wave_percent,
            failure_threshold=plan.failure_threshold,
            waves=len(sizes),
            status="RUNNING" if sizes else "DONE",
        )
        session.add(rollout)
        await session.flush()
        index = 0
        for wave, size in enumerate(sizes):
            for assistant in assistants[index : index + size]:
                session.add(
                    RolloutMember(
                        rollout_id=rollout.id,
                        assistant_id=assistant.id,
                        wave=wave,
                        previous_image=assistant.image,
                        previous_container_id=assistant.container_id,
                    )
                )
            index += size
        return rollout


async def _wait_for_wave(
    sessions: async_sessionmaker[AsyncSession], rollout_id, wave: int, plan: Plan
) -> dict[str, str]:
    """Each member's READY or FAILED (with its reason), by the wave's deadline."""
    results: dict = {}
    deadline = time.monotonic() + plan.wave_timeout
    while True:
        async with sessions() as session:
            members = await repo.members(session, rollout_id, wave)
        for member in members:
            if member.assistant_id not in results and (verdict := judge(member)) is not None:
                results[member.assistant_id] = (verdict, member.last_error if verdict == "FAILED" else None)
        if len(results) == len(members):
            return results
        if time.monotonic() > deadline:
            for member in members:
                results.setdefault(
                    member.assistant_id, ("FAILED", f"not READY within {plan.wave_timeout:g} s ({member.phase})")
                )
            return results
        await asyncio.sleep(plan.poll_seconds)


async def run(
    sessions: async_sessionmaker[AsyncSession], rollout: Rollout, plan: Plan, say: Callable[[str], None] = print
) -> str:
    """Moves the waves one after the other; returns the rollout's final status (DONE or HALTED)."""
    for wave in range(rollout.waves):
        async with transaction(sessions) as session:
            members = await repo.members(session, rollout.id, wave)
            ids = [m.assistant_id for m in members]
            await repo.move(session, ids, plan.image, afresh=False)
            for assistant_id in ids:
                await repo.set_outcome(session, rollout.id, assistant_id, "MOVING")
        say(f"wave {wave + 1}/{rollout.waves}: {len(ids)} assistant(s) to {plan.image}")
        results = await _wait_for_wave(sessions, rollout.id, wave, plan)
        failed = {a: reason for a, (verdict, reason) in results.items() if verdict == "FAILED"}
        async with transaction(sessions) as session:
            for assistant_id, (verdict, reason) in results.items():
                await repo.set_outcome(session, rollout.id, assistant_id, verdict, reason)
        if len(failed) > plan.failure_threshold * len(ids):
            detail = f"wave {wave + 1}: {len(failed)} of {len(ids)} failed; the wave is back on its previous image"
            async with transaction(sessions) as session:
                by_previous: dict[str | None, list] = {}
                for member in members:
                    by_previous.setdefault(member.previous_image, []).append(member.assistant_id)
                for previous, back in by_previous.items():
                    await repo.move(session, back, previous, afresh=True)
                for member in members:
                    await repo.set_outcome(
                        session, rollout.id, member.assistant_id, "ROLLED_BACK", failed.get(member.assistant_id)
                    )
                await _finish(session, rollout, "HALTED", detail, waves_done=wave)
            say(f"halted: {detail}")
            for reason in sorted({r for r in failed.values() if r})[:5]:
                say(f"  reason: {reason}")
            return "HALTED"
        async with transaction(sessions) as session:
            await session.execute(update(Rollout).where(Rollout.id == rollout.id).values(waves_done=wave + 1))
        say(f"wave {wave + 1}/{rollout.waves}: {len(ids) - len(failed)} READY, {len(failed)} failed")
    async with transaction(sessions) as session:
        await _finish(session, rollout, "DONE", None, waves_done=rollout.waves)
    say(f"done: every assistant is on {plan.image}; set ASSISTANT_IMAGE={plan.image} for new ones")
    return "DONE"


async def _finish(session: AsyncSession, rollout: Rollout, status: str, detail: str | None, *, waves_done: int) -> None:
    await session.execute(
        update(Rollout)
        .where(Rollout.id == rollout.id)
        .values(status=status, detail=detail, waves_done=waves_done, finished_at=func.now())
    )


async def status_lines(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rollout = await repo.latest(session)
        if rollout is None:
            return ["no rollout yet"]
        counts = await repo.outcomes(session, rollout.id)
    lines = [
        f"rollout to {rollout.image}: {rollout.status}, wave {rollout.waves_done}/{rollout.waves} done "
        f"({rollout.wave_percent:g}% a wave, halts above {rollout.failure_threshold:.0%} failed)",
        "assistants: " + (", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none to move"),
    ]
    if rollout.detail:
        lines.append(rollout.detail)
    return lines
