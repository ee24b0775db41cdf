"""The end-to-end journey with a real OpenClaw, walked several times, with its figures per run and their median.

    cd /work/main && uv run python bench/openclaw_e2e.py [--runs 3] [--instant]

The same stack as `pytest -m e2e tests/e2e` (tests/harness/openclaw_stack.py: a dockerd of its own over mutual
TLS named yc-oc on port 23771 with its data root in /var/cache/yourclaw-test, the yourclaw-openclaw image built
there offline, the API, reconciler, router and sender, the Twilio, Stripe and Anthropic standins) on an embedded
PostgreSQL. Each run is a new user walking the whole journey (tests/harness/journey.py): paid -> READY split
into create, start, gateway listening, first poll; first and second reply with an instant LLM; model change;
memory idle and after a few turns (`--all-plugins`: without the lean plugin set); image upgrade. Everything
is stopped and removed at the end, on error too. Root is needed (dockerd, bridges).

`--instant`: each run walks the short way to a first reply twice, side by side: cold (no warm pool) and warm
(WARM_POOL_SIZE=1, the assistant handed out from the pool): paid -> READY, the "ready" WhatsApp after READY,
first and second reply, image-upgrade downtime, an idle pool container's memory. It ends with one line of
the warm path's medians.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import structlog  # noqa: E402

# bench/ is on sys.path as the script's own directory.
from _common.report import say  # noqa: E402
from tests.harness.database import truncate  # noqa: E402
from tests.harness.instant_journey import walk_instant  # noqa: E402
from tests.harness.journey import Figures, walk  # noqa: E402
from tests.harness.journey_support import User  # noqa: E402
from tests.harness.openclaw_stack import control_plane_stack, openclaw_engine_stack  # noqa: E402

from yourclaw.db import migrations  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker  # noqa: E402
from yourclaw.runtime import openclaw_config  # noqa: E402


async def one_run(oc, database_url: str, state_dir: Path, mode: str = "full") -> Figures:
    """`mode`: "full" (the whole journey), "cold" or "warm" (the instant walk without or with a warm pool)."""
    engine = make_engine(database_url, pool_size=5)
    figures = Figures()
    started = time.monotonic()
    try:
        async with (
            control_plane_stack(
                oc, database_url, make_sessionmaker(engine), state_dir, warm_pool=1 if mode == "warm" else 0
            ) as cp,
            httpx.AsyncClient(base_url=cp.url, timeout=30) as http,
        ):
            if mode == "full":
                await walk(User(cp, http), figures)
            else:
                await walk_instant(User(cp, http), figures, warm=mode == "warm")
        figures.values["whole journey"] = time.monotonic() - started
        return figures
    finally:
        await truncate(engine)
        await engine.dispose()


def load_all_plugins() -> None:
    """Configs as the reconciler renders them, minus `plugins.allow`: for comparison only, not a product mode."""
    lean = openclaw_config.render

    def render(**kwargs):
        config = lean(**kwargs)
        del config["plugins"]["allow"]
        return config

    openclaw_config.render = render


def instant_report(cold: list[Figures], warm: list[Figures]) -> None:
    """Cold and warm side by side (medians), then the warm path's one line."""
    names = list(dict.fromkeys(name for run in cold + warm for name in run.values))

    def median(runs: list[Figures], name: str) -> float | None:
        numbers = [r.values[name] for r in runs if isinstance(r.values.get(name), float)]
        return statistics.median(numbers) if numbers else None

    say(f"\n==== instant assistant: cold vs warm pool, medians of {len(cold)} / {len(warm)} run(s) ====")
    say(f"  {'':<58} {'cold':>10} {'warm':>10}")
    for name in names:
        cells = []
        for runs in (cold, warm):
            value = median(runs, name)
            text = next((str(r.values[name]) for r in runs if isinstance(r.values.get(name), str)), "-")
            cells.append(f"{value:10.2f}" if value is not None else f"{text[:10]:>10}")
        say(f"  {name:<58} " + " ".join(cells))

    def line(name: str) -> str:
        value = median(warm, name)
        return "nan" if value is None else f"{value:.2f}"

    say(
        f"pay_to_ready_p50_s={line('paid -> READY')} "
        f"first_reply_p50_s={line('first reply (webhook -> reply at Twilio)')} "
        f"upgrade_downtime_p50_s={line('image upgrade: downtime (image changed -> READY again)')}"
    )


def report(runs: list[Figures]) -> None:
    names = list(dict.fromkeys(name for run in runs for name in run.values))
    say(f"\n==== OpenClaw end-to-end, {len(runs)} run(s) ====")
    say(f"  {'':<58} " + " ".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs))) + f" {'median':>10}")
    for name in names:
        values = [run.values.get(name) for run in runs]
        cells = [f"{v:10.1f}" if isinstance(v, float) else f"{str(v or '-')[:10]:>10}" for v in values]
        numbers = [v for v in values if isinstance(v, float)]
        median = f"{statistics.median(numbers):10.1f}" if numbers else f"{'':>10}"
        say(f"  {name:<58} " + " ".join(cells) + f" {median}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="journeys to walk, one new user each (default 3)")
    parser.add_argument(
        "--all-plugins",
        action="store_true",
        help="render configs without plugins.allow (every bundled plugin loads): the memory the lean set saves",
    )
    parser.add_argument(
        "--instant",
        action="store_true",
        help="the short walk to a first reply, cold and from a warm pool side by side (see the module doc)",
    )
    args = parser.parse_args()
    if args.all_plugins:
        load_all_plugins()
    # The control plane's request log would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-bench-e2e-"))
    server = EmbeddedPostgres(workdir / "pg")
    runs: list[Figures] = []
    by_mode: dict[str, list[Figures]] = {"cold": [], "warm": []}
    try:
        database_url = server.start()
        migrations.upgrade(database_url)
        with openclaw_engine_stack() as oc:
            for number in range(args.runs):
                for mode in ("cold", "warm") if args.instant else ("full",):
                    say(f"run {number + 1}/{args.runs} ({mode})...")
                    figures = asyncio.run(one_run(oc, database_url, workdir / f"state-{number}-{mode}", mode))
                    figures.print()
                    (by_mode[mode] if args.instant else runs).append(figures)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if runs:
            report(runs)
        if by_mode["warm"] or by_mode["cold"]:
            instant_report(by_mode["cold"], by_mode["warm"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
