"""The reconciler: converges containers toward the `assistants` rows, alone (a Postgres advisory lock),
woken early by NOTIFY and by each host's Docker events, with a full pass every few seconds regardless.

observe (one list call per host) -> plan (pure) -> apply (idempotent, one failure stays local).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db import channels
from yourclaw.db.models import HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.observability import metrics
from yourclaw.protocol import tokens
from yourclaw.runtime import desired, planner, workspace
from yourclaw.runtime import repository as repo
from yourclaw.runtime.apply import Applier
from yourclaw.runtime.container_deaths import RecentDeaths
from yourclaw.runtime.host_client import HostClient, ObservedContainer, ObservedVolume
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.runtime.hosts import record_host
from yourclaw.runtime.pool_apply import WarmState
from yourclaw.runtime.user_data_tasks import UserDataTasks

log = structlog.get_logger(__name__)

LOCK_KEY = 0x59434C41  # "YCLA": one active reconciler per database
CHANNELS = (channels.ASSISTANTS, channels.POLLS)
HOST_CONCURRENCY = 8  # docker-py keeps 10 pooled connections per client over TLS
OBSERVE_TIMEOUT = 30.0
OBSERVE_DEADLINE = 3.0
HOST_SILENT_AFTER = 10.0
PENDING = object()  # a host still answering: no information this pass, and no failure either
VOLUME_PASS_EVERY = 60.0
DEBOUNCE = 0.02

HostFactory = Callable[[HostServer], HostClient]


@dataclass
class PassReport:
    actions: list[planner.Action] = field(default_factory=list)
    api_calls: int = 0
    seconds: float = 0.0
    unreachable: list[str] = field(default_factory=list)


def _fleet_gauges(host_rows: list[HostServer], views: list[planner.HostView], rows: list) -> None:
    """Hosts by reachability and assistants by phase, as this pass saw them (`observability.metrics`)."""
    draining = {h.id for h in host_rows if h.draining}
    hosts: dict[str, float] = {}
    for view in views:
        state = "unreachable" if not view.reachable else "draining" if view.id in draining else "reachable"
        hosts[state] = hosts.get(state, 0) + 1
    metrics.reset_gauge(metrics.HOSTS, hosts, ("reachable", "unreachable", "draining"))
    phases: dict[str, float] = {}
    for row in rows:
        if row.deleted_at is None:
            phases[row.phase] = phases.get(row.phase, 0) + 1
    metrics.reset_gauge(metrics.ASSISTANTS, phases)


def plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        host_factory: HostFactory,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.secrets = secrets
        self.host_factory = host_factory
        self.handles: dict[uuid.UUID, HostHandle] = {}
        self.is_leader = False
        self.passes = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: dict[uuid.UUID, threading.Thread] = {}
        self._last_volume_pass = 0.0
        self._observing: dict[uuid.UUID, asyncio.Task] = {}
        self._observe_started: dict[uuid.UUID, float] = {}
        self._inflight: dict[object, asyncio.Task] = {}
        self._finished_at: dict[object, float] = {}
        self.deaths = RecentDeaths()
        self.workspaces = workspace.Rounds(settings, sessions)
        self.user_data = UserDataTasks(sessions, wake=self._wake.set)
        self.warm_state = WarmState()
        self.failed_starts: dict[uuid.UUID, planner.StartFailures] = {}
        self.limits = planner.Limits(
            max_attempts=settings.worker_max_attempts,
            provision_timeout=timedelta(seconds=settings.provision_timeout_seconds),
            disconnect_after=timedelta(seconds=settings.disconnect_after_seconds),
            orphan_grace=timedelta(seconds=settings.orphan_grace_seconds),
            volume_retention=timedelta(days=settings.volume_retention_days),
        )

    # --- wake-ups -------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def _wake_threadsafe(self, action: str = "", container_id: str = "") -> None:
        """From a host's events thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_event, action, container_id)

    def _on_event(self, action: str, container_id: str) -> None:
        self.deaths.note(action, container_id)  # a death seen before the list says so (`container_deaths`)
        self._wake.set()

    def _handle(self, host: HostServer) -> HostHandle:
        handle = self.handles.get(host.id)
        if handle is None:
            handle = HostHandle(host.id, self.host_factory(host), anyio.CapacityLimiter(HOST_CONCURRENCY))
            self.handles[host.id] = handle
            watcher = threading.Thread(
                target=handle.client.watch_events,
                args=(self._wake_threadsafe,),
                name=f"events-{host.name}",
                daemon=True,
            )
            watcher.start()
            self._watchers[host.id] = watcher
        return handle

    # --- one pass -------------------------------------------------------------------------------

    async def _observe(self, host: HostServer, with_volumes: bool):
        handle = self._handle(host)
        containers = await asyncio.wait_for(handle.call(handle.client.list_containers), OBSERVE_TIMEOUT)
        volumes = None
        if with_volumes:
            volumes = await asyncio.wait_for(handle.call(handle.client.list_volumes), OBSERVE_TIMEOUT)
        return containers, volumes

    async def _observe_all(self, host_rows: list[HostServer], with_volumes: bool) -> list[object]:
        """Each host gets OBSERVE_DEADLINE to answer this pass. A host still busy after that is left out of
        the pass (no decisions on no information) without counting against it: a loaded engine answers
        slowly. One silent for longer than HOST_SILENT_AFTER counts as a failure on every pass until it
        answers. Either way the pass goes on, so one host never stalls the others, and no second call is
        stacked on a pending one."""
        now = time.monotonic()
        tasks: dict[uuid.UUID, asyncio.Task] = {}
        for host in host_rows:
            previous = self._observing.get(host.id)
            if previous is not None and not previous.done():
                tasks[host.id] = previous
                continue
            task = asyncio.create_task(self._observe(host, with_volumes))
            # An answer that comes after its pass is dropped; a failure then is counted by a later pass.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._observing[host.id] = tasks[host.id] = task
            self._observe_started[host.id] = now
        pending = [t for t in tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=OBSERVE_DEADLINE)
        results: list[object] = []
        for host in host_rows:
            task = tasks[host.id]
            if not task.done():
                waited = time.monotonic() - self._observe_started[host.id]
                silent = waited > HOST_SILENT_AFTER
                results.append(TimeoutError(f"no answer for {waited:.0f} s") if silent else PENDING)
            elif task.cancelled():
                results.append(TimeoutError("observation cancelled"))
            elif task.exception() is not None:
                results.append(task.exception())
            else:
                results.append(task.result())
        return results

    async def run_pass(self, *, volumes: bool | None = None) -> PassReport:
        started = time.perf_counter()
        pass_started = time.monotonic()
        self._finished_at = {k: t for k, t in self._finished_at.items() if pass_started - t < 60}
        now = datetime.now(UTC)
        with_volumes = volumes if volumes is not None else time.monotonic() - self._last_volume_pass > VOLUME_PASS_EVERY
        async with self.sessions() as session:
            host_rows = await repo.load_hosts(session)
            loaded = await repo.load_assistants(session, volume_retention=self.limits.volume_retention)
            token_for = await tokens.current_tokens(session, self.secrets)
            google_for = await repo.connected_google(session)
            restores = await repo.pending_restores(session)
        rows = [row for row, _ in loaded]
        timezone_for = {row.id: timezone for row, timezone in loaded}
        calls_before = {h.id: self._handle(h).client.api_calls for h in host_rows}

        results = await self._observe_all(host_rows, with_volumes)
        report = PassReport()
        containers: dict[uuid.UUID, list[ObservedContainer]] = {}
        volume_map: dict[uuid.UUID, list[ObservedVolume]] = {}
        views = []
        for host, result in zip(host_rows, results, strict=True):
            if result is PENDING:
                views.append(self._view(host, host.reachable))
                continue
            ok = not isinstance(result, BaseException)
            error = None if ok else (f"{type(result).__name__}: {result}" if str(result) else type(result).__name__)
            reachable = await record_host(
                self.sessions, host, ok=ok, error=error, threshold=self.settings.host_failure_threshold
            )
            if ok:
                host_containers, host_volumes = result
                containers[host.id] = self.deaths.apply(host_containers)
                if host_volumes is not None:
                    volume_map[host.id] = host_volumes
            else:
                report.unreachable.append(host.name)
                log.warning("host_did_not_answer", host=host.name, error=error)
            views.append(self._view(host, reachable))
        if with_volumes:
            self._last_volume_pass = time.monotonic()
        self.workspaces.maybe_start(self.handles, workspace.placed(rows, set(containers)), now)
        # Exports, memory requests, purges and backups, on the hosts that answered (`user_data_tasks`).
        answered = {host_id: self.handles[host_id] for host_id in containers}
        self.user_data.maybe_start(self.settings, answered, len(answered) == len(host_rows))

        hosts_by_id = {h.id: h for h in host_rows}
        wanted = [
            desired.to_desired(
                row,
                desired.render(
                    self.settings,
                    row,
                    token_for.get(row.id),
                    hosts_by_id.get(row.host_server_id),
                    row.desired_generation,
                    timezone=timezone_for[row.id],
                    google=google_for.get(row.user_id, ()),
                ),
            )
            for row in rows
        ]
        if len(containers) == len(host_rows):  # every host answered: forget containers gone since
            self.warm_state.warmed &= {c.id for cs in containers.values() for c in cs}
        ready = {row.id for row in rows if row.status == "READY" and row.wanted}
        for gone in set(self.failed_starts) - ready:  # in place: appliers still at work hold this dict
            self.failed_starts.pop(gone, None)
        observed = planner.Observed(
            containers,
            volume_map if with_volumes else None,
            warmed=frozenset(self.warm_state.warmed),
            warming=self.warm_state.warming(time.monotonic()),
            failed_starts=dict(self.failed_starts),
        )
        template = desired.pool_template(self.settings) if any(v.warm_pool for v in views) else None
        actions = planner.plan(wanted, views, observed, now, self.limits, pool_template=template, restores=restores)
        report.actions = actions
        if actions:
            applier = Applier(
                self.settings,
                self.sessions,
                self.secrets,
                {h.id: self._handle(h) for h in host_rows},
                hosts_by_id,
                {row.id: row for row in rows},
                token_for,
                now,
                timezone_for,
                self.warm_state,
                google_for,
                failed_starts=self.failed_starts,
            )
            await self._apply(applier, actions, pass_started)
        report.api_calls = sum(self.handles[h.id].client.api_calls - calls_before[h.id] for h in host_rows)
        report.seconds = time.perf_counter() - started
        metrics.RECONCILE_PASS_SECONDS.observe(report.seconds)
        _fleet_gauges(host_rows, views, rows)
        self.passes += 1
        return report

    def _view(self, host: HostServer, reachable: bool) -> planner.HostView:
        pool_size = host.warm_pool if host.warm_pool is not None else self.settings.warm_pool_size
        return planner.HostView(host.id, host.name, host.draining, host.max_containers, reachable, pool_size)

    async def _apply(self, applier: Applier, actions: list[planner.Action], pass_started: float) -> None:
        """Actions for one assistant (or one container) run in order, as a background task: the pass does
        not wait for them, so a slow `docker start` never holds up the next pass (readiness, crashes, new
        requests). An assistant with work in flight, or whose work ended after this pass read the rows, is
        left to the next pass, which the finishing task wakes."""
        groups: dict[object, list[planner.Action]] = {}
        for action in actions:
            key = getattr(action, "assistant_id", None) or getattr(action, "container_id", None) or id(action)
            if isinstance(action, planner.CreatePool):
                key = ("pool", action.host_id)  # one host's refill in one task: a pass never doubles it
            groups.setdefault(key, []).append(action)

        async def run_group(group: list[planner.Action]) -> None:
            for action in group:
                await applier.run(action)

        def finished(key: object) -> None:
            self._inflight.pop(key, None)
            self._finished_at[key] = time.monotonic()
            self._wake.set()

        for key, group in groups.items():
            if key in self._inflight or self._finished_at.get(key, 0.0) > pass_started:
                continue
            task = asyncio.create_task(run_group(group))
            self._inflight[key] = task
            task.add_done_callback(lambda _, key=key: finished(key))

    async def settle(self, timeout: float | None = None) -> None:
        """Wait for the actions started by earlier passes (tests, benchmarks, shutdown)."""
        await self.user_data.settle(timeout)
        while self._inflight:
            done, _ = await asyncio.wait(list(self._inflight.values()), timeout=timeout)
            if not done:
                return

    # --- leadership and the loop ------------------------------------------------------------------

    async def _acquire(self, stop: asyncio.Event) -> asyncpg.Connection | None:
        """Wait until this process holds the lock (or stop). The lock lives as long as the connection: if
        this process dies, Postgres releases it and a standby takes over within one retry."""
        dsn = plain_dsn(self.settings.database_url or "")
        while not stop.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                    return conn
                await conn.close()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("reconciler_lock_unavailable", error=type(exc).__name__)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.reconcile_interval)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                conn = await self._acquire(stop)
                if conn is None:
                    return
                try:
                    await self._lead(conn, stop)
                finally:
                    self.is_leader = False
                    with contextlib.suppress(Exception):
                        await conn.close()
        finally:
            self.close()

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        self.is_leader = True
        log.info("reconciler_leading")
        for channel in CHANNELS:
            await conn.add_listener(channel, lambda *_: self._wake.set())
        stop_task = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                if conn.is_closed():
                    log.warning("reconciler_lost_lock")
                    return
                self._wake.clear()
                try:
                    await self.run_pass()
                except Exception as exc:  # noqa: BLE001  (a failed pass is retried, never fatal)
                    log.exception("reconcile_pass_failed", error=type(exc).__name__)
                wake_task = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {wake_task, stop_task},
                    timeout=self.settings.reconcile_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                wake_task.cancel()
                await asyncio.sleep(DEBOUNCE)  # let a burst of notifications land in one pass
        finally:
            stop_task.cancel()
            await self.settle(timeout=30)
            await self.workspaces.cancel()

    def close(self) -> None:
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                handle.client.close()
        for watcher in self._watchers.values():
            watcher.join(timeout=2)
        self.handles.clear()
        self._watchers.clear()
