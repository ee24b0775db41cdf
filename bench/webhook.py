"""Webhook benchmark: the durable ack of Twilio's signed webhooks, and the hand-off to polling assistants.

    cd /work/main && uv run python bench/webhook.py [--help]

Part 1, `yourclaw serve` (a subprocess) on an embedded PostgreSQL of its own:
  1a  signed WhatsApp webhook POSTs, closed loop at concurrency 32 for 20 s: throughput, p50/p99 ack latency;
  1b  the ceiling for a durable ack, in the same run on the same server: 32 asyncpg connections doing
      BEGIN; INSERT of a row like the webhook's (a scratch copy of `inbound_messages`); COMMIT, for 20 s;
  1c  open loop at 200 req/s for 20 s, latency measured from each request's scheduled send time.
Part 2, the same `serve` plus `yourclaw worker` (router + sender) talking to a local Twilio stand-in
(`TwilioStandin`, run here so its receive times are known), and 101 stand-in assistants as subprocesses that
long-poll the API (100 idle, 1 busy). Messages go to the busy user one after another; measured per message:
  (a) webhook answered -> the message in the assistant's hands (its poll response read);
  (b) the assistant's reply POST answered 202 -> the Twilio stand-in receiving the send;
  and the whole round trip webhook -> reply at Twilio.

Everything runs on 127.0.0.1 and is started and stopped here, by pid (leftovers of a killed run are stopped
at the next start). Figures are printed in tables with their targets; CPU used per process group is printed
per phase because the machine has 2 cores shared by the load generator, the API, PostgreSQL and whatever
else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# bench/ is on sys.path as the script's own directory.
from _common.cpu import CpuMeter, GcPauses  # noqa: E402
from _common.database import sql  # noqa: E402
from _common.processes import (  # noqa: E402
    PIDS_FILE,
    Procs,
    clean_leftovers,
    postmaster_pid,
    process_groups,
    run_interruptibly,
    wait_http,
)
from _common.report import load_average, machine_summary, say  # noqa: E402
from _webhook.part1_ack import GENERATOR, part1  # noqa: E402
from _webhook.part2_handoff import part2  # noqa: E402
from _webhook.seeding import seed  # noqa: E402
from _webhook.signed_requests import Webhooks  # noqa: E402
from _webhook.stack import Stack, log_problems, stack_env, stop_everything  # noqa: E402
from _webhook.timed_standins import TimedTwilio  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.kit.logs import configure_logging  # noqa: E402

TMP_PREFIX = "yourclaw-bench-webhook-"


async def print_setup(dsn: str, log_level: str) -> None:
    """The machine, PostgreSQL's durability settings and the server stack: each moves the figures."""
    (rows,) = await sql(
        dsn,
        "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit', "
        "'wal_sync_method', 'shared_buffers', 'max_connections', 'commit_delay')",
    )
    pg = {r["name"]: r["setting"] for r in rows}
    stack = [m for m in ("uvloop", "httptools") if find_spec(m)]
    say(f"{machine_summary()} before start")
    say(
        f"PostgreSQL {pg.get('server_version')} (embedded, unix socket): fsync={pg.get('fsync')}, "
        f"synchronous_commit={pg.get('synchronous_commit')}, wal_sync_method={pg.get('wal_sync_method')}, "
        f"shared_buffers={pg.get('shared_buffers')} x 8kB"
    )
    say(
        f"serve: uvicorn, one process, DB_POOL_SIZE default (10 + 10 overflow), LOG_LEVEL={log_level}; "
        f"uvloop/httptools installed: {', '.join(stack) or 'neither (asyncio loop, h11 parser)'}"
    )


async def run(args) -> int:
    clean_leftovers(TMP_PREFIX)
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    procs = Procs(workdir)
    pg = EmbeddedPostgres(workdir / "pg")
    standin = TimedTwilio(status_callbacks=("sent", "delivered") if args.status_callbacks else ())
    pg_pid = None
    cpu: CpuMeter | None = None
    ok = False
    try:
        dsn = pg.start()
        pg_pid = postmaster_pid(workdir / "pg")
        standin.start()
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        env = stack_env(workdir, dsn, api_url, standin, args.log_level)
        stack = Stack(workdir, dsn, port, api_url, env, standin, procs, pg_pid)
        await print_setup(dsn, args.log_level)

        serve_log = workdir / "serve.log"
        serve = procs.start(
            "serve",
            [sys.executable, "-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(port), "--migrate"],
            env,
            log=serve_log,
        )
        await wait_http(f"{api_url}/api/v1/health", serve, "yourclaw serve", log=serve_log)
        seeded = await seed(dsn, env["ENCRYPTION_KEY"], api_url, workdir, args.numbers, args.idle)
        hooks = Webhooks(api_url, standin.auth_token, standin.account_sid, seeded.sender_phones)

        cpu = CpuMeter(lambda: process_groups(procs, serve.pid, pg_pid), own=GENERATOR, gc_pauses=GcPauses())
        if not args.skip_part1:
            await part1(stack, args, hooks, cpu)
        if not args.skip_part2:
            await part2(stack, args, seeded, hooks, cpu)
        ok = True
    finally:
        if cpu is not None and cpu.phases:
            say("")
            cpu.print_cores()
            say(
                "the benchmark process is the load generator in 1a/1c, the asyncpg client in 1b, and in part 2 the "
                "webhook sender plus the Twilio stand-in (its status callbacks included). 'rest of machine' is "
                "everything else running here meanwhile."
            )
            say(f"load average at the end: {load_average()}")
        stop_everything(procs, standin, pg, pg_pid)
        for name in ("serve.log", "worker.log", "standins.log"):
            problems = log_problems(workdir / name)
            if problems:
                shown = ", ".join(f"{k} x{v}" for k, v in problems.most_common(6))
                say(f"{name}: {sum(problems.values())} warnings/errors ({shown})")
        if args.keep or not ok:
            say(f"logs kept in {workdir}")
            with contextlib.suppress(OSError):
                (workdir / PIDS_FILE).unlink()
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of 1a, 1b and 1c (20)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in 1a and 1b (32)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in 1c (200)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load before 1a (3)")
    parser.add_argument("--numbers", type=int, default=500, help="verified numbers the part 1 webhooks come from")
    parser.add_argument(
        "--no-notify-ceiling",
        dest="notify_ceiling",
        action="store_false",
        help="skip the diagnostic ceiling with a pg_notify in each transaction",
    )
    parser.add_argument("--notify-seconds", type=float, default=10.0, help="length of that diagnostic (10)")
    parser.add_argument("--idle", type=int, default=100, help="idle stand-in assistants in part 2 (100)")
    parser.add_argument("--messages", type=int, default=200, help="messages to the busy assistant in part 2 (200)")
    parser.add_argument("--warmup-messages", type=int, default=10, help="unmeasured messages before them (10)")
    parser.add_argument("--gap", type=float, default=0.1, help="pause after each message's ack, seconds (0.1)")
    parser.add_argument("--poll-wait", type=int, default=25, help="the busy stand-in's long-poll wait (25)")
    parser.add_argument(
        "--no-status-callbacks",
        dest="status_callbacks",
        action="store_false",
        help="the Twilio stand-in posts no 'sent'/'delivered' callbacks (it does by default, as Twilio would)",
    )
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of serve and worker (WARNING)")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part2", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    args = parser.parse_args()
    return run_interruptibly(run(args))


if __name__ == "__main__":
    sys.exit(main())
