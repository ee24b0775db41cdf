"""Reconciler benchmark against two real Docker engines over mutual TLS, with stand-in assistants that poll
the real API from inside their containers.

    cd /work/main && uv run python bench/reconcile.py [--help]

1. Provisioning: N new assistants (dev sign-in + POST /api/v1/assistants) until all are READY, next to a
   baseline that creates and starts the same containers straight through docker-py at the reconciler's
   concurrency and waits for each one's first poll on a bare HTTP endpoint.
2. Self-healing: kill K READY containers at once; time until each is READY again with a new instance id.
3. Idle pass: M assistants READY; a Reconciler whose loop is not running does `run_pass(volumes=False)`
   on the converged state, counting Docker API calls, wall time and actions.

Everything runs on this machine: two dockerd (`tests/engine/dockerd.py`, their own names, ports and data
roots so a concurrent test session keeps its engines), an embedded PostgreSQL, the API on 127.0.0.1 and on
the two `yourclaw` network gateways. All of it is stopped and removed at the end, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import docker.errors  # noqa: E402
import httpx  # noqa: E402
import structlog  # noqa: E402
from _stats import pct  # noqa: E402  (bench/ is on sys.path when run as a script)
from docker.models.containers import _create_container_args  # noqa: E402
from sqlalchemy import select  # noqa: E402
from tests.harness.dockerd import CACHE_DIR, TlsDockerd, ensure_docker_installed  # noqa: E402
from tests.harness.images import STANDIN_TAG, build_image, ensure_standin_image  # noqa: E402
from tests.harness.live_server import LiveServer  # noqa: E402
from tests.harness.networks import ensure_network, managed_subnet  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.rows import subscribe  # noqa: E402
from tests.harness.settings import make_settings  # noqa: E402

from yourclaw.db import migrations  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from yourclaw.db.models import Assistant, HostServer  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402
from yourclaw.kit.logs import configure_logging  # noqa: E402
from yourclaw.llm.catalog import DEFAULT_MODEL  # noqa: E402
from yourclaw.protocol import tokens as assistant_tokens  # noqa: E402
from yourclaw.runtime import desired, openclaw_config, planner  # noqa: E402
from yourclaw.runtime import repository as runtime_repo  # noqa: E402
from yourclaw.runtime.certs import init_ca  # noqa: E402
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_MANAGED, LABEL_USER, NETWORK, spec_for  # noqa: E402
from yourclaw.runtime.docker_host import tar_files  # noqa: E402
from yourclaw.runtime.hosts import host_factory  # noqa: E402
from yourclaw.runtime.reconciler import HOST_CONCURRENCY, Reconciler  # noqa: E402
from yourclaw.standins.assistant import HEALTHCHECK_CMD  # noqa: E402

# Engines of the benchmark's own (not the test suite's yc-e1/yc-e2: a test session may hold those).
ENGINES = (("yc-bench1", 23781), ("yc-bench2", 23782))
BENCH_TAG = "yourclaw-standin:bench"
BASE_ID_LABEL = "yourclaw.bench.base-id"
MONITOR_INTERVAL = 0.05
BASELINE_POLL_HOLD = 5.0  # the bare endpoint answers 204 after this long, as a long poll would
TARGET_RATIO = 1.3
TARGET_HEAL_P50 = 2.0
TARGET_IDLE_CALLS = 2
TARGET_IDLE_SECONDS = 0.5


def now() -> float:
    return time.time()


def fmt_s(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f} s"


def say(*parts: object) -> None:
    print(*parts, flush=True)


class CpuMeter:
    """Busy share of the whole machine, and of this process (API + reconciler + benchmark), per phase."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float, float, float]] = []  # label, seconds, machine busy, this process
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _sample() -> tuple[int, int, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        times = os.times()
        return sum(values), values[3] + values[4], times.user + times.system

    @contextlib.contextmanager
    def phase(self, label: str):
        total0, idle0, own0 = self._sample()
        began = now()
        try:
            yield
        finally:
            total1, idle1, own1 = self._sample()
            dtotal = max(1, total1 - total0)
            busy = 1 - (idle1 - idle0) / dtotal
            own = (own1 - own0) / (dtotal / self.tick)
            self.phases.append((label, now() - began, busy, own))

    def lines(self) -> list[str]:
        parts = [f"{label} {secs:.0f} s: {busy:.0%} / {own:.0%}" for label, secs, busy, own in self.phases]
        return ["CPU busy, whole machine / this process (API + reconciler + benchmark): " + "; ".join(parts) + "."]


# --- logs of the control plane: to a file, with counts per phase -----------------------------------------------


class LogTally:
    def __init__(self) -> None:
        self.phase = "setup"
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.examples: dict[tuple[str, str, str], dict] = {}

    def processor(self, _logger, _name, event_dict: dict) -> dict:
        level = event_dict.get("level", "info")
        if level in ("warning", "error", "critical", "exception"):
            key = (self.phase, level, str(event_dict.get("event")))
            self.counts[key] += 1
            self.examples.setdefault(key, {k: v for k, v in event_dict.items() if k not in ("timestamp",)})
        return event_dict


def route_logs(path: Path, tally: LogTally):
    configure_logging("INFO")
    handle = path.open("w", buffering=1)
    processors = list(structlog.get_config()["processors"])
    processors.insert(2, tally.processor)  # after merge_contextvars and add_log_level
    structlog.configure(processors=processors, logger_factory=structlog.PrintLoggerFactory(file=handle))
    logging.basicConfig(level=logging.WARNING, stream=handle, format="%(name)s %(levelname)s %(message)s", force=True)
    return handle


# --- Docker: engines, images, networks, clean-up ---------------------------------------------------------------


def build_bench_image(client: docker.DockerClient, interval: int | None) -> str:
    """The stand-in image; with `interval`, a thin layer on it that only slows its HEALTHCHECK (same command,
    same contract): the stand-in's 2 s probe is a python3 exec per container every 2 s, and a few hundred of
    those alone outrun two cores."""
    standin = ensure_standin_image(client, CACHE_DIR / "images", STANDIN_TAG)
    if not interval:
        return standin
    context = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        (context / "Dockerfile").write_text(
            "ARG BASE\nFROM ${BASE}\n"
            f"HEALTHCHECK --interval={interval}s --timeout=2s --start-period=5s --retries=3 "
            f"CMD {json.dumps(HEALTHCHECK_CMD)}\n"
        )
        base_id = client.images.get(standin).id
        return build_image(client, standin, context, BENCH_TAG, labels={BASE_ID_LABEL: base_id})
    finally:
        shutil.rmtree(context, ignore_errors=True)


def remove_managed(engine: TlsDockerd) -> tuple[int, int]:
    """Every container and volume labelled yourclaw.managed on this (benchmark-only) engine. Containers go one
    at a time: force-removing a hundred of them 8 at a time made this Docker (20.10) lose count of the network's
    endpoints (the network then refuses removal with "has active endpoints", until dockerd restarts and logs
    "Fixing inconsistent endpoint_cnt"); one at a time it did not, at ~0.1 s a container."""
    with closing(engine.client(timeout=120)) as client:
        api = client.api
        containers = [c["Id"] for c in api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})]
        for container_id in containers:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(container_id, force=True)
        volumes = [v["Name"] for v in (api.volumes(filters={"label": f"{LABEL_MANAGED}=true"}).get("Volumes") or [])]

        def rm_volume(name: str) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(name, force=True)

        with ThreadPoolExecutor(HOST_CONCURRENCY) as pool:
            list(pool.map(rm_volume, volumes))
    return len(containers), len(volumes)


def remove_network(network) -> None:
    """The benchmark's `yourclaw` network, once its containers are gone. Should dockerd still count an endpoint
    no container holds (see remove_managed), it refuses ("has active endpoints") until it restarts: after a few
    retries the network is left in the engine's data root, where the next run finds and reuses it."""
    for attempt in range(5):
        try:
            network.reload()
        except docker.errors.NotFound:
            return
        for container_id in network.attrs.get("Containers") or {}:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.client.api.remove_container(container_id, force=True)
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if attempt == 4:
                raise
            time.sleep(1.0)


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


def remove_managed_everywhere(engines: list[TlsDockerd]) -> None:
    with ThreadPoolExecutor(len(engines)) as pool:
        list(pool.map(remove_managed, engines))


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


# --- instrumentation (from the outside: no reconciler code changes) --------------------------------------------


@dataclass
class Call:
    host: str
    method: str
    started: float
    ended: float
    key: str | None  # user id for create, container id otherwise
    ok: bool


class CallLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.user_of: dict[str, str] = {}  # container id -> user id
        self._lock = threading.Lock()

    def add(self, call: Call, result: object) -> None:
        with self._lock:
            self.calls.append(call)
            if call.method == "create" and call.ok and isinstance(result, str) and call.key:
                self.user_of[result] = call.key

    def between(self, start: float, end: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if start <= c.started <= end]


TIMED = {"list_containers", "list_volumes", "create", "start", "remove", "write_files", "read_file", "exit_info"}


class TimedHost:
    """Wraps a HostClient: every call in TIMED is logged with its duration; the rest passes through."""

    def __init__(self, inner, log: CallLog) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if name not in TIMED or not callable(attr):
            return attr

        def timed(*args, **kwargs):
            started, ok, result = now(), False, None
            try:
                result = attr(*args, **kwargs)
                ok = True
                return result
            finally:
                first = args[0] if args else None
                key = (
                    str(first.user_id)
                    if name == "create" and first is not None
                    else (first if isinstance(first, str) else None)
                )
                self._log.add(Call(self._inner.name, name, started, now(), key, ok), result)

        return timed


def timed_factory(settings, log: CallLog) -> Callable:
    inner = host_factory(settings)
    return lambda row: TimedHost(inner(row), log)


@dataclass
class PassRecord:
    started: float
    seconds: float
    api_calls: int
    actions: Counter
    unreachable: list[str]
    error: str | None = None


def record_passes(reconciler: Reconciler, records: list[PassRecord]) -> None:
    original = reconciler.run_pass

    async def run_pass(**kwargs):
        started = now()
        try:
            report = await original(**kwargs)
        except BaseException as exc:
            records.append(PassRecord(started, now() - started, 0, Counter(), [], f"{type(exc).__name__}: {exc}"))
            raise
        actions = Counter(type(a).__name__ for a in report.actions)
        records.append(PassRecord(started, report.seconds, report.api_calls, actions, list(report.unreachable)))
        return report

    reconciler.run_pass = run_pass  # the loop calls self.run_pass(): this instance attribute


# --- watching the assistants rows -----------------------------------------------------------------------------


@dataclass
class Row:
    status: str
    phase: str
    instance_id: str | None
    last_poll_at: datetime | None
    container_id: str | None
    host_id: uuid.UUID | None


@dataclass
class Watch:
    users: set[uuid.UUID]
    predicate: Callable[[uuid.UUID, Row], bool]
    seen: dict[uuid.UUID, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Monitor:
    """Reads every assistants row every MONITOR_INTERVAL (one small query) and notes when a condition first holds."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.rows: dict[uuid.UUID, Row] = {}
        self.first_poll_at: dict[uuid.UUID, float] = {}  # the first poll's time, by the database's clock
        # user -> [(seen at, new instance id, its poll's time by the database's clock)]
        self.instance_changes: dict[uuid.UUID, list[tuple[float, str, float | None]]] = defaultdict(list)
        self.watches: list[Watch] = []
        self.queries = 0

    async def run(self, stop: asyncio.Event) -> None:
        stmt = select(
            Assistant.user_id,
            Assistant.status,
            Assistant.phase,
            Assistant.instance_id,
            Assistant.last_poll_at,
            Assistant.container_id,
            Assistant.host_server_id,
        )
        while not stop.is_set():
            async with self.engine.connect() as conn:
                result = (await conn.execute(stmt)).all()
            seen_at = now()
            self.queries += 1
            for user_id, status, phase, instance_id, last_poll_at, container_id, host_id in result:
                previous = self.rows.get(user_id)
                if instance_id is not None and (previous is None or previous.instance_id != instance_id):
                    poll_at = last_poll_at.timestamp() if last_poll_at else None
                    self.instance_changes[user_id].append((seen_at, instance_id, poll_at))
                self.rows[user_id] = Row(status, phase, instance_id, last_poll_at, container_id, host_id)
                if last_poll_at is not None and user_id not in self.first_poll_at:
                    self.first_poll_at[user_id] = last_poll_at.timestamp()
            for watch in self.watches:
                for user_id in watch.users - watch.seen.keys():
                    row = self.rows.get(user_id)
                    if row is not None and watch.predicate(user_id, row):
                        watch.seen[user_id] = seen_at
                if len(watch.seen) == len(watch.users):
                    watch.done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), MONITOR_INTERVAL)

    async def wait(self, users: Iterable[uuid.UUID], predicate, timeout: float) -> dict[uuid.UUID, float]:
        watch = Watch(set(users), predicate)
        self.watches.append(watch)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.done.wait(), timeout)
        finally:
            self.watches.remove(watch)
        return dict(watch.seen)


def is_ready(_user: uuid.UUID, row: Row) -> bool:
    return row.status == "READY" and row.phase == "ready"


# --- the baseline: docker-py straight, and a bare poll endpoint ---------------------------------------------------


class FirstPolls:
    def __init__(self) -> None:
        self.first: dict[str, float] = {}  # token -> time of its first GET /api/v1/runtime/inbound
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.all_in = threading.Event()
        self.expected = 0

    def record(self, token: str) -> None:
        with self.lock:
            if token and token not in self.first:
                self.first[token] = now()
                if len(self.first) >= self.expected:
                    self.all_in.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def bare_endpoint(address: str, port: int, polls: FirstPolls) -> _Server:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?", 1)[0] != "/api/v1/runtime/inbound":
                self.send_error(404)
                return
            polls.record(self.headers.get("Authorization", "").removeprefix("Bearer "))
            polls.stop.wait(BASELINE_POLL_HOLD)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server((address, port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True, name=f"bare-{address}").start()
    return server


@dataclass
class BaselineResult:
    count: int
    wall: float
    per_container: list[float]  # batch start -> first poll
    queued: list[float]  # batch start -> its first Docker call
    docker_work: list[float]  # volume + create + put_archive + start
    start_to_poll: list[float]
    failures: list[str]


def run_baseline(lab: Lab, settings, count: int, timeout: float, abort: threading.Event) -> BaselineResult:
    port = free_port()
    polls = FirstPolls()
    polls.expected = count
    servers = [bare_endpoint(lab.gateways[e.name], port, polls) for e in lab.engines]
    clients = [e.client(timeout=60) for e in lab.engines]
    per_engine = [
        count // len(lab.engines) + (1 if i < count % len(lab.engines) else 0) for i in range(len(lab.engines))
    ]
    jobs: list[tuple[int, uuid.UUID, str]] = []
    for index, n in enumerate(per_engine):
        jobs += [(index, uuid.uuid4(), f"bench-{uuid.uuid4().hex}") for _ in range(n)]
    marks: dict[str, tuple[float, float]] = {}
    failures: list[str] = []
    try:
        for client in clients:
            client.version()  # one pooled TLS connection each, as the reconciler has after its first pass

        def provision(job: tuple[int, uuid.UUID, str]) -> None:
            index, user_id, token = job
            if abort.is_set():
                return
            api = clients[index].api
            engine = lab.engines[index]
            spec = spec_for(settings, user_id, lab.image)
            began = now()
            try:
                api.create_volume(spec.volume, labels={LABEL_MANAGED: "true", LABEL_USER: str(user_id)})
                # Exactly what `client.containers.create(**spec.create_kwargs())` sends, without its extra inspect.
                kwargs = {**spec.create_kwargs(), "command": None, "version": api._version}
                container_id = api.create_container(**_create_container_args(kwargs))["Id"]
                config = openclaw_config.render(
                    user_id=user_id,
                    model=DEFAULT_MODEL,
                    token=token,
                    api_url=f"http://{lab.gateways[engine.name]}:{port}",
                    generation=1,
                )
                files = {
                    openclaw_config.CONFIG_PATH: (openclaw_config.config_bytes(config), 0o600),
                    openclaw_config.INSTRUCTIONS_PATH: (openclaw_config.merge_instructions(None).encode(), 0o644),
                }
                if not api.put_archive(container_id, DATA_DIR, tar_files(files)):
                    raise RuntimeError("put_archive refused")
                api.start(container_id)
                marks[token] = (began, now())
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{engine.name}: {type(exc).__name__}: {exc}"[:300])

        started = now()
        pools = [ThreadPoolExecutor(HOST_CONCURRENCY, thread_name_prefix=f"base-{e.name}") for e in lab.engines]
        try:
            for job in jobs:
                pools[job[0]].submit(provision, job)
        finally:
            for pool in pools:
                pool.shutdown(wait=True)
        while not (polls.all_in.is_set() or abort.is_set()) and now() - started < timeout:
            polls.all_in.wait(0.2)
        with polls.lock:
            first = dict(polls.first)
    finally:
        polls.stop.set()
        for server in servers:
            server.shutdown()
            server.server_close()
        for client in clients:
            client.close()
    tokens = [token for _, _, token in jobs if token in first]
    return BaselineResult(
        count=len(tokens),
        wall=(max(first[t] for t in tokens) - started) if tokens else float("nan"),
        per_container=[first[t] - started for t in tokens],
        queued=[marks[t][0] - started for t in tokens if t in marks],
        docker_work=[marks[t][1] - marks[t][0] for t in tokens if t in marks],
        start_to_poll=[first[t] - marks[t][1] for t in tokens if t in marks],
        failures=failures,
    )


# --- the control plane ------------------------------------------------------------------------------------------


@dataclass
class Provisioned:
    users: list[uuid.UUID]
    posted: dict[uuid.UUID, float]
    post_seconds: list[float]
    ready: dict[uuid.UUID, float]
    started: float
    wall: float


async def sign_in(client: httpx.AsyncClient) -> tuple[dict, uuid.UUID]:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/dev/login", json={"email": email})
    response.raise_for_status()
    body = response.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, uuid.UUID(body["user_id"])


async def provision(client: httpx.AsyncClient, sessions, monitor: Monitor, count: int, timeout: float) -> Provisioned:
    signed = await asyncio.gather(*(sign_in(client) for _ in range(count)))
    # Paid already (as if Stripe's webhooks had landed), before the clock starts: an assistant needs it.
    for _, user_id in signed:
        await subscribe(sessions, user_id)
    posted: dict[uuid.UUID, float] = {}
    post_seconds: list[float] = []

    async def post(headers: dict, user_id: uuid.UUID) -> None:
        posted[user_id] = now()
        response = await client.post("/api/v1/assistants", headers=headers)
        for _ in range(5):  # a well-behaved client: an overloaded API says when to come back
            if response.status_code != 503:
                break
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            response = await client.post("/api/v1/assistants", headers=headers)
        post_seconds.append(now() - posted[user_id])
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/v1/assistants answered {response.status_code}: {response.text[:200]}")

    users = [user_id for _, user_id in signed]
    started = now()
    ready_task = asyncio.create_task(monitor.wait(users, is_ready, timeout))
    await asyncio.gather(*(post(headers, user_id) for headers, user_id in signed))
    ready = await ready_task
    wall = (max(ready.values()) - started) if len(ready) == len(users) else float("nan")
    return Provisioned(users, posted, post_seconds, ready, started, wall)


@dataclass
class Breakdown:
    post_to_create: list[float]
    docker_work: list[float]  # first Docker call for it -> start() returned
    start_to_poll: list[float]
    poll_to_ready: list[float]


def breakdown(prov: Provisioned, calls: CallLog, monitor: Monitor) -> Breakdown:
    create_at: dict[str, float] = {}
    start_done: dict[str, float] = {}
    for call in calls.between(prov.started - 1, prov.started + 3600):
        if call.method == "create" and call.key:
            create_at.setdefault(call.key, call.started)
        elif call.method == "start" and call.ok and call.key in calls.user_of:
            start_done.setdefault(calls.user_of[call.key], call.ended)
    out = Breakdown([], [], [], [])
    for user in prov.users:
        key = str(user)
        if key in create_at:
            out.post_to_create.append(create_at[key] - prov.posted[user])
        if key in create_at and key in start_done:
            out.docker_work.append(start_done[key] - create_at[key])
        poll = monitor.first_poll_at.get(user)
        if key in start_done and poll is not None:
            out.start_to_poll.append(poll - start_done[key])
        if poll is not None and user in prov.ready:
            out.poll_to_ready.append(prov.ready[user] - poll)
    return out


def summarize_passes(records: list[PassRecord], start: float, end: float) -> list[str]:
    lines = []
    for index, rec in enumerate(r for r in records if start - 0.001 <= r.started + r.seconds and r.started <= end):
        actions = ", ".join(f"{n} {k}" for k, n in sorted(rec.actions.items())) or "none"
        extra = f"  ERROR {rec.error}" if rec.error else ""
        extra += f"  unreachable: {rec.unreachable}" if rec.unreachable else ""
        lines.append(
            f"    pass {index + 1:>2}: +{rec.started - start:6.2f} s  took {rec.seconds:6.2f} s  "
            f"{rec.api_calls:>4} Docker calls  actions: {actions}{extra}"
        )
    return lines


def call_stats(calls: list[Call]) -> list[str]:
    by_method: dict[str, list[float]] = defaultdict(list)
    failed: Counter[str] = Counter()
    for call in calls:
        by_method[call.method].append(call.ended - call.started)
        if not call.ok:
            failed[call.method] += 1
    lines = []
    for method in sorted(by_method):
        values = by_method[method]
        lines.append(
            f"    {method:<16} n={len(values):>4}  p50 {pct(values, 0.5):5.2f} s  p95 {pct(values, 0.95):5.2f} s  "
            f"max {max(values):5.2f} s" + (f"  failed {failed[method]}" if failed[method] else "")
        )
    return lines


@dataclass
class Report:
    facts: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # what, value, target, verdict
    detail: list[str] = field(default_factory=list)

    def row(self, what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((what, value, target, "" if ok is None else ("PASS" if ok else "MISS")))


def spread(values: list[float]) -> str:
    """p50 / p95 / max, in seconds."""
    if not values:
        return "   n/a    n/a    n/a"
    return f"{pct(values, 0.5):6.2f} {pct(values, 0.95):6.2f} {max(values):6.2f}"


@dataclass
class ControlPlane:
    settings: object
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


async def phase_provisioning(cp: ControlPlane, args, base: BaselineResult, report: Report) -> Provisioned:
    say(f"reconciler: {args.assistants} assistants, POST to READY ...")
    prov = await provision(cp.client, cp.sessions, cp.monitor, args.assistants, args.timeout)
    end = prov.started + (prov.wall if prov.wall == prov.wall else args.timeout)
    say(f"  {len(prov.ready)}/{args.assistants} READY, last after {fmt_s(prov.wall)}")
    per = [prov.ready[u] - prov.posted[u] for u in prov.ready]
    ratio = prov.wall / base.wall if base.wall == base.wall and prov.wall == prov.wall else float("nan")
    report.row(f"1 Provisioning {args.assistants}: reconciler, first POST -> last READY", fmt_s(prov.wall))
    report.row(f"  baseline docker-py, first create -> last first poll ({base.count} polled)", fmt_s(base.wall))
    report.row("  ratio reconciler / baseline", f"{ratio:.2f}", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO)
    report.row("  per assistant p50 / p95 (POST -> READY)", f"{fmt_s(pct(per, 0.5))} / {fmt_s(pct(per, 0.95))}")
    report.row(
        "  baseline per container p50 / p95 (batch start -> first poll)",
        f"{fmt_s(pct(base.per_container, 0.5))} / {fmt_s(pct(base.per_container, 0.95))}",
    )
    if len(prov.ready) < args.assistants:
        report.notes.append(
            f"only {len(prov.ready)} of {args.assistants} assistants became READY in {args.timeout:g} s"
        )

    bd = breakdown(prov, cp.calls, cp.monitor)
    d = report.detail
    d.append(f"Provisioning breakdown ({args.assistants} assistants), per assistant p50 / p95 / max in seconds:")
    for label, values in (
        ("POST answered (202)", prov.post_seconds),
        ("POST -> its first Docker call", bd.post_to_create),
        ("first Docker call -> start() returned", bd.docker_work),
        ("start() returned -> first poll (DB clock)", bd.start_to_poll),
        ("first poll -> READY seen", bd.poll_to_ready),
    ):
        d.append(f"    reconciler {label:<42} {spread(values)}")
    for label, values in (
        ("batch start -> its first Docker call", base.queued),
        ("first Docker call -> start() returned", base.docker_work),
        ("start() returned -> first poll", base.start_to_poll),
    ):
        d.append(f"    baseline   {label:<42} {spread(values)}")
    if base.failures:
        d.append(f"    baseline failures: {len(base.failures)}, e.g. {base.failures[0]}")
    d.append("  Reconciler passes during provisioning (time from the first POST):")
    d += summarize_passes(cp.passes, prov.started, end)
    d.append("  Docker calls made by the reconciler during provisioning:")
    d += call_stats(cp.calls.between(prov.started, end))
    return prov


async def phase_self_healing(cp: ControlPlane, args, prov: Provisioned, report: Report) -> None:
    monitor = cp.monitor
    by_host: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for user in prov.users:
        if user in prov.ready and monitor.rows[user].container_id:
            by_host[monitor.rows[user].host_id].append(user)
    victims: list[uuid.UUID] = []
    while len(victims) < args.kill and any(by_host.values()):
        for users in by_host.values():
            if users and len(victims) < args.kill:
                victims.append(users.pop(0))
    say(f"self-healing: killing {len(victims)} READY containers at once ...")
    before = {u: monitor.rows[u] for u in victims}
    killed_at: dict[uuid.UUID, float] = {}

    def kill(user: uuid.UUID) -> None:
        killed_at[user] = now()
        cp.docker[before[user].host_id].api.kill(before[user].container_id)

    def back(user: uuid.UUID, row: Row) -> bool:
        return is_ready(user, row) and row.instance_id != before[user].instance_id

    started = now()
    waiter = asyncio.create_task(monitor.wait(victims, back, args.timeout))
    await asyncio.sleep(0)  # the watch is registered before the kills
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max(1, len(victims))) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, kill, u) for u in victims))
    seen = await waiter
    ended = now()
    healed = {u: seen[u] - killed_at[u] for u in seen}
    times = list(healed.values())
    say(f"  {len(healed)}/{len(victims)} READY again with a new instance id")
    report.row(
        f"2 Self-healing, {len(victims)} killed: back READY p50 / p95 / max",
        f"{fmt_s(pct(times, 0.5))} / {fmt_s(pct(times, 0.95))} / {fmt_s(max(times, default=float('nan')))}",
        f"p50 <= {TARGET_HEAL_P50:g} s",
        pct(times, 0.5) <= TARGET_HEAL_P50 and len(healed) == len(victims),
    )

    calls = cp.calls.between(started, ended)
    restarted = {c.key for c in calls if c.method == "start" and c.ok}
    same = sum(1 for u in healed if monitor.rows[u].container_id == before[u].container_id)
    by_us = sum(1 for u in victims if before[u].container_id in restarted)
    d = report.detail
    why = (
        "a kill disables Docker's restart policy until the next start"
        if by_us >= len(healed)
        else "the others came back through Docker's restart policy"
    )
    d.append(
        f"Self-healing: {len(healed)}/{len(victims)} back, {same} in the same container; the reconciler started "
        f"{by_us} of them again ({why})."
    )
    d.append("  per container (s): " + ", ".join(f"{t:.2f}" for t in sorted(times)))
    died = await asyncio.to_thread(death_times, cp, before)
    steps: dict[str, list[float]] = defaultdict(list)
    for user in healed:
        starts = [c for c in calls if c.method == "start" and c.ok and c.key == before[user].container_id]
        polls = [p for _, inst, p in monitor.instance_changes[user] if inst != before[user].instance_id and p]
        if user in died:
            steps["kill() called -> the container exited (Docker)"].append(died[user] - killed_at[user])
        if starts and user in died:
            steps["exited -> the reconciler's start() call"].append(starts[0].started - died[user])
        if starts:
            steps["start() call took"].append(starts[0].ended - starts[0].started)
        if starts and polls:
            steps["start() returned -> new instance's first poll"].append(polls[0] - starts[0].ended)
        if polls:
            steps["that poll -> READY seen"].append(seen[user] - polls[0])
    d.append("  per container, p50 / p95 / max in seconds:")
    for label, values in steps.items():
        d.append(f"    {label:<48} {spread(values)}")
    d.append("  Reconciler passes during self-healing (time from the kills):")
    d += summarize_passes(cp.passes, started, ended)


def death_times(cp: ControlPlane, before: dict[uuid.UUID, Row]) -> dict[uuid.UUID, float]:
    """When each killed container exited, by dockerd's clock (State.FinishedAt survives the restart)."""
    out = {}
    for user, row in before.items():
        finished = cp.docker[row.host_id].api.inspect_container(row.container_id)["State"].get("FinishedAt") or ""
        stamp, _, fraction = finished.rstrip("Z").partition(".")
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
            out[user] = moment + float(f"0.{fraction or 0}")
    return out


async def phase_fill(cp: ControlPlane, args, report: Report) -> int:
    extra = max(0, args.idle_total - args.assistants)
    say(f"idle pass: adding {extra} assistants for {args.idle_total} READY ...")
    if extra:
        more = await provision(cp.client, cp.sessions, cp.monitor, extra, args.fill_timeout)
        end = more.started + (more.wall if more.wall == more.wall else args.fill_timeout)
        per = [more.ready[u] - more.posted[u] for u in more.ready]
        d = report.detail
        d.append(
            f"Filling up: {len(more.ready)}/{extra} more READY, last after {fmt_s(more.wall)}; per assistant "
            f"p50 {fmt_s(pct(per, 0.5))}, p95 {fmt_s(pct(per, 0.95))}."
        )
        d.append("  Reconciler passes while filling up (time from the first POST):")
        d += summarize_passes(cp.passes, more.started, end)
        d.append("  Docker calls made by the reconciler while filling up:")
        d += call_stats(cp.calls.between(more.started, end))
    total = sum(1 for u, r in cp.monitor.rows.items() if is_ready(u, r))
    say(f"  {total} READY in all")
    if total < args.idle_total:
        report.notes.append(f"only {total} of {args.idle_total} assistants were READY for the idle passes")
    return total


async def phase_idle(cp: ControlPlane, args, lab: Lab, total_ready: int, report: Report) -> None:
    # The loop stops (its lock goes with it), and so do the benchmark's own 20 queries a second.
    cp.stop_loop.set()
    await asyncio.wait_for(cp.loop_task, 60)
    cp.stop_monitor.set()
    await asyncio.wait_for(cp.monitor_task, 10)
    await asyncio.sleep(args.settle)  # the last starts' aftermath (events, first probes, poll writes) dies down
    calls = CallLog()
    second = Reconciler(cp.settings, cp.sessions, SecretBox(cp.settings.fernet_keys), timed_factory(cp.settings, calls))
    try:
        warm = await second.run_pass(volumes=False)
        reports, spans = [], []
        for _ in range(args.idle_passes):
            began = now()
            reports.append(await second.run_pass(volumes=False))
            spans.append((began, now()))
    finally:
        second.close()
    slowest_list = [
        max((c.ended - c.started for c in calls.between(a, b) if c.method == "list_containers"), default=0.0)
        for a, b in spans
    ]
    seconds = [r.seconds for r in reports]
    api = [r.api_calls for r in reports]
    actions = Counter(type(a).__name__ for r in reports for a in r.actions)
    n_actions = sum(actions.values())
    lists = [c.ended - c.started for c in calls.calls if c.method == "list_containers"][len(lab.engines) :]
    report.row(
        f"3 Idle pass, {total_ready} READY on {len(lab.engines)} engines: Docker API calls per pass",
        f"{min(api)}..{max(api)}" if min(api) != max(api) else str(min(api)),
        f"== {TARGET_IDLE_CALLS}",
        min(api) == max(api) == TARGET_IDLE_CALLS,
    )
    report.row(
        "  pass wall time p50 / max",
        f"{fmt_s(pct(seconds, 0.5))} / {fmt_s(max(seconds))}",
        f"<= {TARGET_IDLE_SECONDS:g} s",
        max(seconds) <= TARGET_IDLE_SECONDS,
    )
    report.row(
        f"  actions over {len(reports)} passes",
        str(n_actions) + (f" ({dict(actions)})" if actions else ""),
        "== 0",
        n_actions == 0,
    )
    d = report.detail
    d.append(
        f"Idle passes: the loop stopped, {args.settle:g} s of quiet, one warm-up pass of a new Reconciler object (it "
        f"opens the TLS connections: {warm.api_calls} calls, {warm.seconds:.2f} s, {len(warm.actions)} actions), then "
        f"{len(reports)} measured. List call per engine p50 {fmt_s(pct(lists, 0.5))}, "
        f"max {fmt_s(max(lists, default=float('nan')))}."
    )
    d.append(
        "  per pass, s (the slower of its two list calls): "
        + ", ".join(f"{s:.3f} ({x:.3f})" for s, x in zip(seconds, slowest_list, strict=True))
    )
    d += await idle_anatomy(cp.settings, cp.sessions, cp.reconciler.limits)


async def run(lab: Lab, args: argparse.Namespace, tally: LogTally, report: Report) -> None:
    meter = CpuMeter()
    main_task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    port = free_port()
    gateways = tuple(lab.gateways[e.name] for e in lab.engines)
    settings = make_settings(
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

    # 1a. The baseline first, then a clean slate.
    tally.phase = "baseline"
    say(f"baseline: {args.assistants} containers through docker-py, {HOST_CONCURRENCY} at a time per engine ...")
    abort = threading.Event()
    with meter.phase("baseline"):
        job = asyncio.get_running_loop().run_in_executor(
            None, run_baseline, lab, settings, args.assistants, args.timeout, abort
        )
        try:
            base = await asyncio.shield(job)
        except asyncio.CancelledError:
            abort.set()  # no new containers; the ones made so far are removed with the rest
            await asyncio.wait({job}, timeout=120)
            raise
    say(f"  {base.count}/{args.assistants} polled, the last after {fmt_s(base.wall)}; removing them ...")
    await asyncio.to_thread(remove_managed_everywhere, lab.engines)

    engine = make_engine(lab.database_url, pool_size=5)  # as the tests' `engine` fixture
    monitor_engine = make_engine(lab.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    # The cp fixture's hosts hold 50 each; the idle phase needs room for --idle-total on two.
    room = max(50, -(-args.idle_total // len(lab.engines)) + 10)
    host_ids: dict[str, uuid.UUID] = {}
    async with transaction(sessions) as session:
        for e, gateway in zip(lab.engines, gateways, strict=True):
            host = HostServer(
                name=e.name, docker_url=e.docker_url, max_containers=room, runtime_api_url=f"http://{gateway}:{port}"
            )
            session.add(host)
            await session.flush()
            host_ids[e.name] = host.id
    calls, passes = CallLog(), []
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
                while reconciler.passes < 1:  # leading, with its Docker clients open
                    if cp.loop_task.done():
                        cp.loop_task.result()
                    await asyncio.sleep(0.05)
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
        slow = [p for p in passes if p.seconds > 1.0]
        failed = [p for p in passes if p.error]
        report.detail.append(
            f"Reconciler loop: {len(passes)} passes, {len(failed)} failed, {len(slow)} longer than 1 s "
            f"(longest {max((p.seconds for p in passes), default=0):.2f} s)."
        )
        report.detail += meter.lines()


async def idle_anatomy(settings, sessions, limits, rounds: int = 5) -> list[str]:
    """Where an idle pass's time goes, step by step, with the reconciler's own functions (no Docker calls
    timed here: one list per engine is taken once beforehand)."""
    secrets = SecretBox(settings.fernet_keys)
    async with sessions() as session:
        host_rows = await runtime_repo.load_hosts(session)
    clients = {h.id: host_factory(settings)(h) for h in host_rows}
    try:
        containers = {hid: await asyncio.to_thread(c.list_containers) for hid, c in clients.items()}
    finally:
        for c in clients.values():
            c.close()
    steps: dict[str, list[float]] = defaultdict(list)
    n_rows = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        async with sessions() as session:
            hosts = await runtime_repo.load_hosts(session)
            rows = await runtime_repo.load_assistants(session, volume_retention=limits.volume_retention)
            t1 = time.perf_counter()
            token_for = await assistant_tokens.current_tokens(session, secrets)
        t2 = time.perf_counter()
        by_id = {h.id: h for h in hosts}
        wanted = [
            desired.to_desired(
                row,
                desired.render(
                    settings, row, token_for.get(row.id), by_id.get(row.host_server_id), row.desired_generation
                ),
            )
            for row in rows
        ]
        t3 = time.perf_counter()
        views = [planner.HostView(h.id, h.name, h.draining, h.max_containers, True) for h in hosts]
        planner.plan(wanted, views, planner.Observed(containers), datetime.now(UTC), limits)
        t4 = time.perf_counter()
        n_rows = len(rows)
        steps["load hosts + assistants rows (ORM)"].append(t1 - t0)
        steps["load + decrypt current tokens"].append(t2 - t1)
        steps["render config + spec hash per row"].append(t3 - t2)
        steps["plan"].append(t4 - t3)
    lines = [f"  Idle pass anatomy ({n_rows} rows, p50 of {rounds} rounds, same process and load as the passes):"]
    for label, values in steps.items():
        lines.append(f"    {label:<40} {statistics.median(values) * 1000:7.1f} ms")
    return lines


def standin_log_summary(engines: list[TlsDockerd]) -> list[str]:
    """What the stand-ins themselves logged (JSON lines on stderr): retries and refusals show here."""
    events: Counter[str] = Counter()
    odd: list[str] = []  # the first container's lines that are not the stand-in's JSON (a traceback, say)
    odd_in = 0
    containers = 0
    for engine in engines:
        with closing(engine.client(timeout=60)) as client:
            ids = [c["Id"] for c in client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})]
            containers += len(ids)

            def read(cid: str) -> list[str]:
                try:
                    return (
                        client.api.logs(cid, stdout=True, stderr=True, tail=500).decode(errors="replace").splitlines()
                    )
                except docker.errors.APIError:
                    return []

            with ThreadPoolExecutor(HOST_CONCURRENCY) as pool:
                for lines in pool.map(read, ids):
                    plain = []
                    for line in lines:
                        try:
                            events[json.loads(line).get("event", "?")] += 1
                        except ValueError:
                            events["(not JSON)"] += 1
                            plain.append(line[:200])
                    if plain:
                        odd_in += 1
                        odd = odd or plain[:30]
    listed = ", ".join(f"{name}: {n}" for name, n in events.most_common())
    lines = [f"Stand-in logs over {containers} containers: {listed or 'nothing'}."]
    if odd:
        lines.append(f"  {odd_in} container(s) wrote other lines; the first one's:")
        lines += [f"    | {line}" for line in odd]
    return lines


def print_report(report: Report, lab: Lab | None, started: float) -> None:
    say("")
    say("=" * 100)
    say("Reconciler benchmark")
    for key, value in report.facts:
        say(f"  {key:<24} {value}")
    say("-" * 100)
    for line in report.detail:
        say(line)
    if lab is not None:
        say(f"Control-plane log (JSON lines): {lab.log_path}")
    say("-" * 100)
    width = max((len(r[0]) for r in report.rows), default=40)
    say(f"{'measure':<{width}}  {'value':<28} {'target':<12} verdict")
    for what, value, target, verdict in report.rows:
        say(f"{what:<{width}}  {value:<28} {target:<12} {verdict}")
    for note in report.notes:
        say(f"note: {note}")
    say(f"total run time {time.time() - started:.0f} s")
    say("=" * 100)


def log_summary(tally: LogTally) -> list[str]:
    if not tally.counts:
        return ["Control-plane warnings and errors: none."]
    lines = ["Control-plane warnings and errors (phase, level, event: count; first example):"]
    for key, count in sorted(tally.counts.items()):
        example = {k: v for k, v in tally.examples[key].items() if k not in ("level", "event")}
        lines.append(f"    {key[0]:<13} {key[1]:<8} {key[2]}: {count}  {json.dumps(example, default=str)[:300]}")
    return lines


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

    def on_term(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
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
            import traceback

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
