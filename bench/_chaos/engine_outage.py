"""Phase 3: one Docker engine stopped for DOWN seconds. Two dockerd over mutual TLS with the stand-in image (the
lab of bench/reconcile.py), the API on 127.0.0.1 and on both network gateways, the real reconciler, router and
sender in this process and the Twilio stand-in. USERS assistants are split over the two engines (each host row
holds half). Engine A is stopped (dockerd, containerd and its containers go, its data root stays) and started
again on the same data root; meanwhile one message a second goes round robin to engine B's users. Counted:
engine B's assistants READY at every look and their replies (lost 0), each engine A assistant's time from the
engine's return to READY again from a fresh poll, and the managed volumes on each engine before and after."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict
from contextlib import closing
from datetime import UTC, datetime

from _common.report import machine_summary, say, secs
from _common.stats import pct
from _reconcile.lab import Cleanup, setup
from _reconcile.logs import LogTally, log_summary
from sqlalchemy import select
from tests.harness.dockerd import TlsDockerd
from tests.harness.inbound_messages import receive
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.settings import make_settings

from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
from yourclaw.db.models import Assistant, HostServer, User, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm.catalog import DEFAULT_MODEL
from yourclaw.messaging.inbound.router import run_router
from yourclaw.messaging.outbound.sender import run_sender
from yourclaw.protocol import tokens
from yourclaw.runtime.container_spec import LABEL_MANAGED
from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.twilio import TwilioStandin


def managed(engine: TlsDockerd) -> tuple[int, set[str]]:
    """(running managed containers, names of managed volumes) on one engine."""
    with closing(engine.client(timeout=60)) as client:
        running = client.api.containers(filters={"label": f"{LABEL_MANAGED}=true", "status": "running"})
        volumes = client.api.volumes(filters={"label": f"{LABEL_MANAGED}=true"}).get("Volumes") or []
    return len(running), {v["Name"] for v in volumes}


class Outage:
    def __init__(self, args: argparse.Namespace, lab) -> None:
        self.args, self.lab = args, lab
        self.twilio = TwilioStandin()
        self.port = free_port()
        self.phones: dict[uuid.UUID, str] = {}
        self.host_of: dict[uuid.UUID, uuid.UUID] = {}
        self.host_ids: dict[str, uuid.UUID] = {}

    async def rows(self) -> dict[uuid.UUID, Assistant]:
        async with self.sessions() as s:
            return {a.user_id: a for a in (await s.scalars(select(Assistant))).all()}

    async def until(self, check, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
            await asyncio.sleep(0.2)

    async def seed(self) -> None:
        half = -(-self.args.engine_users // 2)
        async with transaction(self.sessions) as s:
            for engine, gateway in ((e, self.lab.gateways[e.name]) for e in self.lab.engines):
                # Each host holds half the users, so the reconciler puts half on each engine.
                host = HostServer(name=engine.name, docker_url=engine.docker_url, max_containers=half,
                                  runtime_api_url=f"http://{gateway}:{self.port}")  # fmt: skip
                s.add(host)
                await s.flush()
                self.host_ids[engine.name] = host.id
            for i in range(self.args.engine_users):
                user_id, phone, now = uuid.uuid4(), f"+1555400{i:04d}", datetime.now(UTC)
                s.add(User(id=user_id, email=f"outage{i}@bench.invalid"))
                s.add(UserPhone(user_id=user_id, phone_e164=phone, verified_at=now, last_inbound_at=now))
                await s.flush()
                row = Assistant(user_id=user_id, model=DEFAULT_MODEL, status="PROVISIONING", phase="creating")
                s.add(row)
                await s.flush()
                await tokens.issue(s, self.box, user_id=user_id, assistant_id=row.id)
                await credits_repo.grant(s, user_id, 10**9, reference="bench-chaos-engine")
                self.phones[user_id] = phone

    def replies_to(self, phone: str) -> Counter:
        return Counter(m.body for m in self.twilio.messages_to(phone))

    async def talk(self, users: list[uuid.UUID], stop: asyncio.Event, sent: list[tuple[str, str]]) -> None:
        """One message a second, round robin over `users`, until `stop`."""
        n = 0
        while not stop.is_set():
            user = users[n % len(users)]
            text = f"outage {n:04d} {uuid.uuid4().hex[:6]}"
            await receive(self.sessions, self.phones[user], text)
            sent.append((self.phones[user], text))
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def watch_ready(self, users: list[uuid.UUID], stop: asyncio.Event, looks: Counter) -> None:
        while not stop.is_set():
            rows = await self.rows()
            for u in users:
                looks["READY" if rows[u].status == "READY" and rows[u].phase == "ready" else rows[u].status] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def run(self) -> None:
        lab = self.lab
        self.twilio.start()
        settings = make_settings(
            lab.database_url, API_URL=f"http://127.0.0.1:{self.port}", MOCK_STRIPE="true",
            DOCKER_TLS_DIR=str(lab.tls_dir), ASSISTANT_IMAGE=lab.image, YOURCLAW_STATE_DIR=str(lab.workdir / "state"),
            RECONCILE_INTERVAL="1", CONTAINER_MEMORY="256m", QUIET_HOURS="off", WORKER_POLL_INTERVAL="0.5",
            RATE_LIMIT_MSG_PER_MIN="600", RATE_LIMIT_MSG_PER_DAY="10000",
            TWILIO_ACCOUNT_SID=self.twilio.account_sid, TWILIO_AUTH_TOKEN=self.twilio.auth_token,
            TWILIO_API_BASE_URL=self.twilio.base_url,
        )  # fmt: skip
        engine = make_engine(lab.database_url, pool_size=5)
        jobs = make_engine(lab.database_url, pool_size=8)  # the background jobs' pool, as their processes' own
        self.sessions, jobs_sessions = make_sessionmaker(engine), make_sessionmaker(jobs)
        self.box = SecretBox(settings.fernet_keys)
        await self.seed()
        stop = asyncio.Event()
        gateways = tuple(lab.gateways[e.name] for e in lab.engines)
        try:
            async with LiveServer(settings, port=self.port, extra_hosts=gateways):
                reconciler = Reconciler(settings, jobs_sessions, self.box, host_factory(settings))
                tasks = [
                    asyncio.create_task(reconciler.run(stop)),
                    asyncio.create_task(run_router(settings, jobs_sessions, self.box, stop)),
                    asyncio.create_task(run_sender(settings, jobs_sessions, self.box, stop)),
                ]
                try:
                    await self.outage()
                finally:
                    stop.set()
                    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        finally:
            await engine.dispose()
            await jobs.dispose()
            self.twilio.stop()

    async def all_ready(self, users, since: datetime | None = None) -> bool:
        rows = await self.rows()
        return all(
            rows[u].status == "READY" and rows[u].phase == "ready"
            and (since is None or (rows[u].last_poll_at is not None and rows[u].last_poll_at > since))
            for u in users
        )  # fmt: skip

    async def outage(self) -> None:
        args, (eng_a, eng_b) = self.args, self.lab.engines
        t0 = time.monotonic()
        await self.until(lambda: self.all_ready(self.phones), "every assistant READY", args.engine_timeout)
        say(f"  {len(self.phones)} assistants READY {time.monotonic() - t0:.1f} s after the reconciler started")
        rows = await self.rows()
        by_engine: dict[str, list[uuid.UUID]] = defaultdict(list)
        names = {v: k for k, v in self.host_ids.items()}
        for u, row in rows.items():
            by_engine[names[row.host_server_id]].append(u)
        users_a, users_b = by_engine[eng_a.name], by_engine[eng_b.name]
        volumes_before = {e.name: (await asyncio.to_thread(managed, e))[1] for e in (eng_a, eng_b)}
        say(f"  assistants per engine: {eng_a.name} {len(users_a)}, {eng_b.name} {len(users_b)}")
        before_instance = {u: rows[u].instance_id for u in users_a}

        say(f"  stopping {eng_a.name} for {args.engine_down:g} s ...")
        quiet, looks, sent = asyncio.Event(), Counter(), []
        background = [
            asyncio.create_task(self.talk(users_b, quiet, sent)),
            asyncio.create_task(self.watch_ready(users_b, quiet, looks)),
        ]
        down_at = time.monotonic()
        await asyncio.to_thread(eng_a.stop)
        stopped_in = time.monotonic() - down_at
        await asyncio.sleep(max(0.0, args.engine_down - (time.monotonic() - down_at)))
        rows_down = await self.rows()
        quiet.set()
        await asyncio.gather(*background)
        a_states = Counter(f"{rows_down[u].status}/{rows_down[u].phase}" for u in users_a)
        # A message to each of engine A's users while it is still down: it must wait, then be answered.
        held = []
        for u in users_a:
            text = f"held {uuid.uuid4().hex[:6]}"
            await receive(self.sessions, self.phones[u], text)
            held.append((self.phones[u], text))
        # A poll after start() was called comes from a container the returning engine ran; READY is timed from
        # start() returning (the engine answering), 0 for one already back by then.
        start_wall = datetime.now(UTC)
        await asyncio.to_thread(eng_a.start)
        back_at = time.monotonic()
        say(f"  {eng_a.name} stopped in {stopped_in:.1f} s, down {back_at - down_at:.1f} s, started again in "
            f"{time.monotonic() - back_at:.1f} s")  # fmt: skip

        ready_after: dict[uuid.UUID, float] = {}
        deadline = time.monotonic() + args.engine_timeout
        while len(ready_after) < len(users_a) and time.monotonic() < deadline:
            rows = await self.rows()
            for u in users_a:
                r = rows[u]
                if u not in ready_after and r.status == "READY" and r.phase == "ready" and r.last_poll_at \
                        and r.last_poll_at > start_wall:  # fmt: skip
                    ready_after[u] = max(0.0, time.monotonic() - back_at)
            await asyncio.sleep(0.2)
        times = list(ready_after.values())
        answered_b = await self.answered(sent, 30)
        answered_a = await self.answered(held, 60)
        after = {e.name: await asyncio.to_thread(managed, e) for e in (eng_a, eng_b)}
        rows = await self.rows()
        same = sum(1 for u in ready_after if rows[u].instance_id == before_instance[u])

        say(f"\n  {eng_a.name} (stopped): during the outage its assistants showed {dict(a_states)}")
        say(f"    READY again after the engine returned: {len(ready_after)}/{len(users_a)}, p50 "
            f"{secs(pct(times, 0.5))}, max {secs(max(times, default=float('nan')))}"
            f" ({same} with the same instance id)")  # fmt: skip
        say(f"    a message sent to each while it was down: answered {answered_a}/{len(held)}")
        say(f"  {eng_b.name} (untouched): {len(users_b)} assistants looked at once a second: "
            f"{dict(looks)}; READY at every look: {set(looks) == {'READY'}}")  # fmt: skip
        say(f"    messages sent to them during the outage {len(sent)}: answered {answered_b}, lost "
            f"{len(sent) - answered_b}")  # fmt: skip
        for e in (eng_a, eng_b):
            running, vols = after[e.name]
            lost = volumes_before[e.name] - vols
            say(f"  volumes on {e.name}: before {len(volumes_before[e.name])}, after {len(vols)}, lost {len(lost)}; "
                f"running assistant containers after {running}")  # fmt: skip

    async def answered(self, sent: list[tuple[str, str]], timeout: float) -> int:
        def count() -> int:
            return sum(1 for phone, text in sent if self.replies_to(phone)[f"echo: {text}"] >= 1)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if count() == len(sent):
                break
            await asyncio.sleep(0.2)
        return count()


def phase_engine(args: argparse.Namespace) -> None:
    say(f"\nphase 3: {args.engine_users} assistants on two Docker engines; one stopped {args.engine_down:g} s")
    say(machine_summary())
    tally = LogTally()
    args.healthcheck_interval = 30  # the lab's slower health probe, as bench/reconcile.py
    with contextlib.ExitStack() as stack:
        cleanup = Cleanup(stack)
        lab = setup(cleanup, args, tally)
        say(f"  control-plane logs in {lab.log_path}")
        tally.phase = "engine-outage"
        try:
            asyncio.run(Outage(args, lab).run())
        finally:
            for line in log_summary(tally):
                say("  " + line)
    for error in cleanup.errors:
        say(f"  clean-up step failed: {error}")
