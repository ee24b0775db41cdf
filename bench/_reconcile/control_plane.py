"""The control plane under test, wired as the `cp` fixture of the reconciler's engine tests does: settings, one
host row per engine, a Reconciler whose host clients are timed and whose passes are recorded, the API on
127.0.0.1 and on both network gateways, and the watch on the assistants rows."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import docker
import httpx
from tests.harness.live_server import LiveServer
from tests.harness.settings import make_settings

from _reconcile.instruments import CallLog, PassRecord, record_passes, timed_factory
from _reconcile.lab import Lab
from _reconcile.monitor import Monitor
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
from yourclaw.db.models import HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.runtime.reconciler import Reconciler


@dataclass
class ControlPlane:
    settings: Settings
    sessions: object
    client: httpx.AsyncClient
    reconciler: Reconciler
    monitor: Monitor
    calls: CallLog
    passes: list[PassRecord]
    docker: dict[uuid.UUID, docker.DockerClient]  # by host row id
    stop_loop: asyncio.Event
    stop_monitor: asyncio.Event
    loop_task: asyncio.Task
    monitor_task: asyncio.Task


def bench_settings(lab: Lab, port: int) -> Settings:
    """The cp fixture's settings, with CONTAINER_MEMORY=256m and a pass every second."""
    return make_settings(
        lab.database_url,
        API_URL=f"http://127.0.0.1:{port}",
        MOCK_STRIPE="true",
        DOCKER_TLS_DIR=str(lab.tls_dir),
        ASSISTANT_IMAGE=lab.image,
        YOURCLAW_STATE_DIR=str(lab.workdir / "state"),
        RECONCILE_INTERVAL="1",
        ORPHAN_GRACE_SECONDS="2",
        VOLUME_RETENTION_DAYS=str(6 / 86400),
        WORKER_MAX_ATTEMPTS="2",
        CONTAINER_MEMORY="256m",
    )


@contextlib.asynccontextmanager
async def control_plane(
    lab: Lab, settings: Settings, port: int, idle_total: int, passes: list[PassRecord]
) -> AsyncIterator[ControlPlane]:
    """Running, once the reconciler's first pass is done (its Docker clients are open by then); `passes`
    keeps its passes, for the report whatever happens."""
    gateways = tuple(lab.gateways[e.name] for e in lab.engines)
    engine = make_engine(lab.database_url, pool_size=5)  # as the tests' `engine` fixture
    monitor_engine = make_engine(lab.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    # The cp fixture's hosts hold 50 each; the idle phase needs room for --idle-total on two.
    room = max(50, -(-idle_total // len(lab.engines)) + 10)
    host_ids: dict[str, uuid.UUID] = {}
    async with transaction(sessions) as session:
        for e, gateway in zip(lab.engines, gateways, strict=True):
            host = HostServer(
                name=e.name, docker_url=e.docker_url, max_containers=room, runtime_api_url=f"http://{gateway}:{port}"
            )
            session.add(host)
            await session.flush()
            host_ids[e.name] = host.id
    calls = CallLog()
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), timed_factory(settings, calls))
    record_passes(reconciler, passes)
    monitor = Monitor(monitor_engine)
    stop_loop, stop_monitor = asyncio.Event(), asyncio.Event()
    clients = {host_ids[e.name]: e.client(timeout=60) for e in lab.engines}
    tasks: list[asyncio.Task] = []
    try:
        async with LiveServer(settings, port=port, extra_hosts=gateways) as server:
            tasks.append(asyncio.create_task(monitor.run(stop_monitor)))
            tasks.append(asyncio.create_task(reconciler.run(stop_loop)))
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                cp = ControlPlane(
                    settings, sessions, client, reconciler, monitor, calls, passes, clients,
                    stop_loop, stop_monitor, tasks[1], tasks[0],
                )  # fmt: skip
                while reconciler.passes < 1:
                    if cp.loop_task.done():
                        cp.loop_task.result()
                    await asyncio.sleep(0.05)
                yield cp
            # Leaving LiveServer: waiting long polls answer at once.
    finally:
        stop_loop.set()
        stop_monitor.set()
        for task in tasks:
            if not task.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 60)
        for c in clients.values():
            c.close()
        await engine.dispose()
        await monitor_engine.dispose()
