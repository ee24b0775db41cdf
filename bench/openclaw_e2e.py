"""The end-to-end journey with a real OpenClaw, walked several times, with its figures per run and their median.

    cd /work/main && uv run python bench/openclaw_e2e.py [--runs 3]

The same stack as `pytest -m e2e tests/e2e` (tests/harness/openclaw_stack.py: a dockerd of its own over mutual
TLS named yc-oc on port 23771 with its data root in /var/cache/yourclaw-test, the yourclaw-openclaw image built
there offline, the API, reconciler, router and sender, the Twilio, Stripe and Anthropic standins) on an embedded
PostgreSQL. Each run is a new user walking the whole journey (tests/harness/journey.py): paid -> READY split
into create, start, gateway listening, first poll; first and second reply with an instant LLM; model change;
memory idle and after a few turns (`--all-plugins`: without the lean plugin set); image upgrade. Everything
is stopped and removed at the end, on error too. Root is needed (dockerd, bridges).
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
from tests.harness.journey import Figures, walk  # noqa: E402
from tests.harness.journey_support import User  # noqa: E402
from tests.harness.openclaw_stack import control_plane_stack, openclaw_engine_stack  # noqa: E402

from yourclaw.db import migrations  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker  # noqa: E402
from yourclaw.runtime import openclaw_config  # noqa: E402


async def one_run(oc, database_url: str, state_dir: Path) -> Figures:
    engine = make_engine(database_url, pool_size=5)
    figures = Figures()
    started = time.monotonic()
    try:
        async with (
            control_plane_stack(oc, database_url, make_sessionmaker(engine), state_dir) as cp,
            httpx.AsyncClient(base_url=cp.url, timeout=30) as http,
        ):
            await walk(User(cp, http), figures)
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
    args = parser.parse_args()
    if args.all_plugins:
        load_all_plugins()
    # The control plane's request log would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-bench-e2e-"))
    server = EmbeddedPostgres(workdir / "pg")
    runs: list[Figures] = []
    try:
        database_url = server.start()
        migrations.upgrade(database_url)
        with openclaw_engine_stack() as oc:
            for number in range(args.runs):
                say(f"run {number + 1}/{args.runs}...")
                runs.append(asyncio.run(one_run(oc, database_url, workdir / f"state-{number}")))
                runs[-1].print()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if runs:
            report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
