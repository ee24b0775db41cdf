"""Reconciler benchmark against two real Docker engines over mutual TLS, with stand-in assistants that poll
the real API from inside their containers.

    cd /work/main && uv run python bench/reconcile.py [--help]

1. Provisioning: N new assistants (dev sign-in + POST /api/v1/assistants) until all are READY, next to a
   baseline that creates and starts the same containers straight through docker-py at the reconciler's
   concurrency and waits for each one's first poll on a bare HTTP endpoint.
2. Self-healing: kill K READY containers at once; time until each is READY again with a new instance id.
3. Idle pass: M assistants READY; a Reconciler whose loop is not running does `run_pass(volumes=False)`
   on the converged state, counting Docker API calls, wall time and actions.

Everything runs on this machine: two dockerd (`tests/harness/dockerd.py`, their own names, ports and data
roots so a concurrent test session keeps its engines), an embedded PostgreSQL, the API on 127.0.0.1 and on
the two `yourclaw` network gateways. All of it is stopped and removed at the end, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# bench/ is on sys.path as the script's own directory.
from _common.cpu import CpuMeter  # noqa: E402
from _common.processes import interrupt_on_sigterm  # noqa: E402
from _common.report import say, secs  # noqa: E402
from _reconcile.baseline import baseline  # noqa: E402
from _reconcile.control_plane import bench_settings, control_plane  # noqa: E402
from _reconcile.engines import remove_managed_everywhere, standin_log_summary  # noqa: E402
from _reconcile.idle_pass import phase_fill, phase_idle  # noqa: E402
from _reconcile.instruments import PassRecord  # noqa: E402
from _reconcile.lab import Cleanup, Lab, setup  # noqa: E402
from _reconcile.logs import LogTally, log_summary  # noqa: E402
from _reconcile.provisioning import phase_provisioning  # noqa: E402
from _reconcile.report import Report, loop_line, print_report  # noqa: E402
from _reconcile.self_healing import phase_self_healing  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

from yourclaw.runtime.reconciler import HOST_CONCURRENCY  # noqa: E402


async def run(lab: Lab, args: argparse.Namespace, tally: LogTally, report: Report) -> None:
    """The phases in order, each under its own CPU meter phase and log tally phase."""
    meter = CpuMeter()
    main_task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    port = free_port()
    settings = bench_settings(lab, port)

    # The baseline first, then a clean slate.
    tally.phase = "baseline"
    with meter.phase("baseline"):
        base = await baseline(lab, settings, args)
    say(f"  {base.count}/{args.assistants} polled, the last after {secs(base.wall)}; removing them ...")
    await asyncio.to_thread(remove_managed_everywhere, lab.engines)

    passes: list[PassRecord] = []
    try:
        async with control_plane(lab, settings, port, args.idle_total, passes) as cp:
            tally.phase = "provisioning"
            with meter.phase("provisioning"):
                prov = await phase_provisioning(cp, args, base, report)
            tally.phase = "self-healing"
            await asyncio.sleep(1.0)
            with meter.phase("self-healing"):
                await phase_self_healing(cp, args, prov, report)
            tally.phase = "idle-fill"
            with meter.phase("filling up"):
                total = await phase_fill(cp, args, report)
            tally.phase = "idle-passes"
            with meter.phase("idle passes"):
                await phase_idle(cp, args, lab, total, report)
            report.detail += await asyncio.to_thread(standin_log_summary, lab.engines)
    finally:
        report.detail.append(loop_line(passes))
        report.detail.append(meter.busy_line("this process (API + reconciler + benchmark)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assistants", type=int, default=50, help="provisioned and compared to the baseline")
    parser.add_argument("--kill", type=int, default=10, help="containers killed at once")
    parser.add_argument("--idle-total", type=int, default=200, help="READY assistants for the idle passes")
    parser.add_argument("--idle-passes", type=int, default=20)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of quiet before the idle passes")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for phases 1 and 2")
    parser.add_argument("--fill-timeout", type=float, default=300.0, help="seconds allowed to fill up to --idle-total")
    parser.add_argument(
        "--healthcheck-interval",
        type=int,
        default=30,
        help="seconds between the stand-in's health probes (0: the image's own 2 s)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        say("run as root: the benchmark starts dockerd instances of its own")
        return 2

    interrupt_on_sigterm()
    started = time.time()
    tally = LogTally()
    report = Report(facts=[])
    lab: Lab | None = None
    code = 0
    with contextlib.ExitStack() as stack:
        cleanup = Cleanup(stack)
        try:
            lab = setup(cleanup, args, tally)
            report.facts = lab.facts + [
                ("Stand-in image", f"{lab.image}, health probe every {args.healthcheck_interval or 2} s"),
                ("Settings", "CONTAINER_MEMORY=256m, RECONCILE_INTERVAL=1, the rest as the cp fixture"),
                ("Reconciler", f"HOST_CONCURRENCY={HOST_CONCURRENCY} per engine, DB pool 5 (+5 overflow)"),
            ]
            say("environment:")
            for key, value in report.facts:
                say(f"  {key:<24} {value}")
            asyncio.run(run(lab, args, tally, report))
        except (KeyboardInterrupt, asyncio.CancelledError):
            say("\ninterrupted: stopping everything the benchmark started ...")
            code = 130
        except Exception as exc:
            say(f"\nthe benchmark failed: {type(exc).__name__}: {exc}; stopping everything it started ...")
            traceback.print_exc()
            code = 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            say("cleaning up (containers, volumes, networks, engines, PostgreSQL) ...")
    report.detail += log_summary(tally)
    for error in cleanup.errors:
        say(f"clean-up step failed: {error}")
        report.notes.append(f"clean-up step failed: {error}")
        code = code or 1
    if report.rows or code == 0:
        print_report(report, lab, started)
    return code


if __name__ == "__main__":
    sys.exit(main())
