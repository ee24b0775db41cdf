"""The baseline the reconciler is compared with: the same containers created and started straight through
docker-py, at the reconciler's concurrency per engine, each timed until its first poll on a bare HTTP endpoint
that answers 204 after a while, as a long poll would."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _common.report import say
from docker.models.containers import _create_container_args
from tests.harness.ports import free_port

from _reconcile.lab import Lab
from yourclaw.llm.catalog import DEFAULT_MODEL
from yourclaw.runtime import openclaw_config
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_MANAGED, LABEL_USER, spec_for
from yourclaw.runtime.docker_host import tar_files
from yourclaw.runtime.reconciler import HOST_CONCURRENCY

BASELINE_POLL_HOLD = 5.0  # the bare endpoint answers 204 after this long, as a long poll would


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
                self.first[token] = time.time()
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
            began = time.time()
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
                marks[token] = (began, time.time())
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{engine.name}: {type(exc).__name__}: {exc}"[:300])

        started = time.time()
        pools = [ThreadPoolExecutor(HOST_CONCURRENCY, thread_name_prefix=f"base-{e.name}") for e in lab.engines]
        try:
            for job in jobs:
                pools[job[0]].submit(provision, job)
        finally:
            for pool in pools:
                pool.shutdown(wait=True)
        while not (polls.all_in.is_set() or abort.is_set()) and time.time() - started < timeout:
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


async def baseline(lab: Lab, settings, args) -> BaselineResult:
    """`run_baseline` in a thread. Interrupted, it starts no new containers; the ones made so far are removed
    with the rest."""
    say(f"baseline: {args.assistants} containers through docker-py, {HOST_CONCURRENCY} at a time per engine ...")
    abort = threading.Event()
    job = asyncio.get_running_loop().run_in_executor(
        None, run_baseline, lab, settings, args.assistants, args.timeout, abort
    )
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        abort.set()
        await asyncio.wait({job}, timeout=120)
        raise
