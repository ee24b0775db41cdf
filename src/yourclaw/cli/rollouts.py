"""`yourclaw rollout IMAGE` (a new assistant image in waves, gated on READY) and `yourclaw rollout status`."""

from __future__ import annotations

import argparse

from yourclaw.cli.common import Database, fail, settings_or_exit
from yourclaw.kit.logs import configure_logging
from yourclaw.kit.settings import Settings


def add_parser(sub) -> None:
    rollout = sub.add_parser(
        "rollout",
        help="move the assistants to a new image in waves, each gated on READY; `rollout status` shows the last one",
        description="Move every assistant to IMAGE a wave at a time. A wave whose failures pass --max-failures goes "
        "back to its previous image and the rollout halts; later waves are never touched.",
    )
    rollout.add_argument("image", metavar="IMAGE|status", help="the image (an exact tag), or `status`")
    rollout.add_argument("--wave", type=float, default=10.0, help="percent of the assistants per wave (default 10)")
    rollout.add_argument(
        "--max-failures", type=float, default=0.2, help="fraction of a wave that may fail before it halts (0.2)"
    )
    rollout.add_argument("--wave-timeout", type=float, default=300.0, help="seconds a wave has to be READY (300)")
    rollout.set_defaults(func=cmd_rollout)


def cmd_rollout(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level)

    async def go(resolved: Settings) -> int:
        from yourclaw.db.engine import make_engine, make_sessionmaker
        from yourclaw.fleet import rollout

        engine = make_engine(resolved.database_url or "", pool_size=2)
        sessions = make_sessionmaker(engine)
        try:
            if args.image == "status":
                for line in await rollout.status_lines(sessions):
                    print(line)
                return 0
            plan = rollout.Plan(args.image, args.wave, args.max_failures, args.wave_timeout)
            try:
                started = await rollout.start(sessions, resolved, plan)
            except rollout.RolloutRefused as exc:
                fail(str(exc))
            if started.waves == 0:
                print(f"every assistant is already on {args.image}")
                return 0
            print(f"rollout to {args.image}: {started.waves} wave(s) of {args.wave:g}%")
            outcome = await rollout.run(sessions, started, plan, say=lambda line: print(line, flush=True))
            return 0 if outcome == "DONE" else 1
        finally:
            await engine.dispose()

    from yourclaw.cli.common import run

    with Database(settings) as resolved:
        code = run(go(resolved))
    raise SystemExit(code)
