"""What an idle assistant costs a day of shared credits, with the real OpenClaw: main's config (before) and
this one (after), in the same run.

    cd /work/wt-idle && flock /tmp/yc-heavy.lock uv run python bench/idle_cost.py [--config before|after|both]

The stack of `pytest -m e2e tests/e2e` (tests/harness/openclaw_stack.py: a dockerd of its own, yc-oc on port
23771, the yourclaw-openclaw image built there offline, the API, reconciler, router and sender, the Twilio and
Stripe stand-ins) on an embedded PostgreSQL, with a model behind the proxy that reports usage estimated from
each request (bench/_idle/model.py). Per config, a new user's assistant is brought READY, has a short
conversation, then the day's background work runs on demand (bench/_idle/day.py); tokens are counted at the
model and priced with `yourclaw.llm.catalog`, and `llm_spend_daily` is printed beside them. An idle day is
the day's heartbeats (24 around the clock, or the hours outside the default quiet hours), the daily memory
job with nothing new to remember, and the weekly skill review over 7. Root is needed (dockerd, bridges).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

# bench/ is on sys.path as the script's own directory.
from _common.report import machine_summary, say, table  # noqa: E402
from _idle.configs import AFTER, BEFORE, BEFORE_COMMIT, rendering  # noqa: E402
from _idle.day import Day, simulate  # noqa: E402
from _idle.model import Cost, IdleDayModel  # noqa: E402
from tests.harness.database import truncate  # noqa: E402
from tests.harness.openclaw_stack import control_plane_stack, openclaw_engine_stack  # noqa: E402

from yourclaw.db import migrations  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker  # noqa: E402

TARGET_CENTS = 1.0


async def one_day(oc, database_url: str, state_dir: Path, which: str, heartbeats: int) -> Day:
    engine = make_engine(database_url, pool_size=5)
    try:
        with rendering(which):
            async with control_plane_stack(
                oc, database_url, make_sessionmaker(engine), state_dir, llm=IdleDayModel()
            ) as cp:
                return await simulate(cp, which, heartbeats)
    finally:
        await truncate(engine)
        await engine.dispose()


def _cells(cost: Cost | None) -> tuple[str, ...]:
    if cost is None:
        return ("off", "", "", "", "", "")
    models = ",".join(sorted(m.removeprefix("claude-") for m in cost.models)) or "-"
    max_tokens = f"{cost.max_tokens:,}" if cost.max_tokens else "-"
    return (
        f"{cost.calls:.2f}".rstrip("0").rstrip("."),
        f"{cost.input:,.0f}",
        f"{cost.output:,.0f}",
        f"{cost.millicents / 1000:.3f}",
        models,
        max_tokens,
    )


STEPS = (
    ("per heartbeat, nothing to check", lambda d: d.heartbeat),
    ("per user turn: recap", lambda d: d.recap_per_turn),
    ("per memory job: dreaming after a chat", lambda d: d.dreaming_after_chat),
    ("per memory job: dreaming, nothing new", lambda d: d.dreaming_idle),
    ("per weekly skill review", lambda d: d.skill_review),
    ("PER IDLE DAY", lambda d: d.idle_day()),
    ("(not idle) per user turn: the reply", lambda d: d.reply_per_turn),
)
HEADER = ("", "config", "calls", "tokens in", "out", "cents", "model", "max_tokens")


def report(days: list[Day]) -> None:
    label = {BEFORE: f"before: main at {BEFORE_COMMIT}", AFTER: "after: this config"}
    rows = [(name if i == 0 else "", d.which, *_cells(step(d))) for name, step in STEPS for i, d in enumerate(days)]
    say(f"\n==== What an idle assistant costs (OpenClaw 2026.9.6; {machine_summary()}) ====")
    say("; ".join(label[d.which] for d in days))
    say("tokens: estimated at 4 bytes a token from each request, cache writes included; cents: llm.catalog prices")
    table(rows, HEADER)
    for d in days:
        say(f"\n{label[d.which]}")
        review = " + skill review / 7" if d.skill_review else " (skill review off)"
        say(f"  idle day = {d.heartbeats_per_day} heartbeats ({d.waking_hours}) + dreaming with nothing new{review}")
        say(f"  heartbeat runs: {', '.join(d.heartbeat_outcomes)}")
        if d.heartbeat_with_checklist is not None:
            hb = d.heartbeat_with_checklist
            day = hb.times(d.heartbeats_per_day)
            say(
                f"  with one item on the heartbeat checklist: {hb.calls:g} call(s), {hb.input:,.0f} tokens in, "
                f"{hb.millicents / 1000:.3f} cents a heartbeat, {day.millicents / 1000:.2f} cents a day"
            )
        say(
            "  llm_spend_daily, whole run (purpose model calls cents): "
            + "; ".join(f"{p} {m} {c} {mc / 1000:.3f}" for p, m, c, mc in d.spend)
        )
    after = next((d for d in days if d.which == AFTER), None)
    if after is not None:
        cents = after.idle_day().millicents / 1000
        verdict = "met" if cents <= TARGET_CENTS else "MISSED"
        target = f"an idle assistant spends <= {TARGET_CENTS:g} cent a day by default"
        say(f"\nTarget: {target}: {cents:.3f} cents, {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=(BEFORE, AFTER, "both"), default="both")
    parser.add_argument("--heartbeats", type=int, default=3, help="heartbeats run per config (default 3)")
    args = parser.parse_args()
    which = (BEFORE, AFTER) if args.config == "both" else (args.config,)
    # The control plane's request log would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-bench-idle-"))
    server = EmbeddedPostgres(workdir / "pg")
    days: list[Day] = []
    try:
        database_url = server.start()
        migrations.upgrade(database_url)
        with openclaw_engine_stack() as oc:
            for config in which:
                say(f"{config}: a simulated day...")
                days.append(asyncio.run(one_day(oc, database_url, workdir / config, config, args.heartbeats)))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
