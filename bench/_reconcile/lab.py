"""What the benchmark runs on (the lab): two dockerd over mutual TLS with the stand-in image and the
`yourclaw` network on each, an embedded PostgreSQL migrated with Alembic, a work directory and the log file;
each with its clean-up step, and the facts about the machine printed with the figures."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from _common.report import say
from tests.harness.dockerd import CACHE_DIR, TlsDockerd, ensure_docker_installed
from tests.harness.networks import ensure_network, managed_subnet, remove_network

from _reconcile.engines import ENGINES, build_bench_image, remove_managed, remove_managed_everywhere
from _reconcile.logs import LogTally, route_logs
from yourclaw.db import migrations
from yourclaw.db.embedded import EmbeddedPostgres
from yourclaw.runtime.certs import init_ca
from yourclaw.runtime.container_spec import NETWORK


class Cleanup:
    """Clean-up steps on an ExitStack that never hide the report: a failing step is noted and the rest run."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.errors: list[str] = []

    def add(self, what: str, fn: Callable, *args, **kwargs) -> None:
        def step() -> None:
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{what}: {type(exc).__name__}: {exc}"[:400])

        self.stack.callback(step)


@dataclass
class Lab:
    workdir: Path
    tls_dir: Path
    engines: list[TlsDockerd]
    gateways: dict[str, str]
    image: str
    database_url: str
    facts: list[tuple[str, str]]
    log_path: Path


def environment_facts(engine: TlsDockerd) -> list[tuple[str, str]]:
    with closing(engine.client(timeout=30)) as client:
        version, info = client.version(), client.info()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "?"
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("Docker engine", f"{version.get('Version')} (API {version.get('ApiVersion')}), "
         f"{info.get('Driver')}, cgroup v{info.get('CgroupVersion', '?')}"),
        ("CPUs", f"{os.cpu_count()} x {model}"),
        ("Memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("Load average at start", f"{load} (1/5/15 min; other work on this machine shows here)"),
        ("Kernel / Python", f"{platform.release()} / {platform.python_version()}"),
    ]  # fmt: skip


def setup(cleanup: Cleanup, args: argparse.Namespace, tally: LogTally) -> Lab:
    try:
        ensure_docker_installed()
    except BaseException as exc:  # pytest.skip raises an outcome exception, not an Exception
        if type(exc).__name__ == "Skipped":
            raise SystemExit(f"cannot run: {exc}") from None
        raise
    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-bench-"))
    cleanup.add("work directory", shutil.rmtree, workdir, ignore_errors=True)
    log_path = Path(tempfile.gettempdir()) / f"yourclaw-bench-reconcile-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_handle = route_logs(log_path, tally)
    cleanup.add("log file", log_handle.close)

    tls_dir = workdir / "tls"
    init_ca(tls_dir)
    say("starting two dockerd over mutual TLS ...")
    engines = []
    for name, port in ENGINES:
        engine = TlsDockerd(name, port, tls_dir, CACHE_DIR / name)
        engine.start()  # undoes itself when it fails
        cleanup.add(f"stopping {name}", engine.stop)
        engines.append(engine)
    for engine in engines:
        removed = remove_managed(engine)  # left by an interrupted run: these engines are the benchmark's alone
        if any(removed):
            say(f"  {engine.name}: removed {removed[0]} containers and {removed[1]} volumes left by an earlier run")
    say("building the stand-in image on both engines (cached after the first run) ...")
    image = ""
    for engine in engines:
        with closing(engine.client(timeout=300)) as client:
            image = build_bench_image(client, args.healthcheck_interval)

    gateways: dict[str, str] = {}
    for engine in engines:
        subnet = managed_subnet(engine)
        gateway = str(next(subnet.hosts()))
        client = engine.client(timeout=120)
        cleanup.add("docker client", client.close)
        network = ensure_network(client, subnet, gateway)
        cleanup.add(f"network {NETWORK} on {engine.name}", remove_network, network)
        gateways[engine.name] = gateway
    # Registered last, so it runs first: all containers go in parallel before the networks and engines go.
    cleanup.add("containers and volumes", remove_managed_everywhere, engines)

    say("starting an embedded PostgreSQL and migrating it ...")
    server = EmbeddedPostgres(workdir / "pg")
    database_url = server.start()
    cleanup.add("PostgreSQL", server.stop)
    migrations.upgrade(database_url)
    return Lab(workdir, tls_dir, engines, gateways, image, database_url, environment_facts(engines[0]), log_path)
