"""Chaos benchmark: messages keep flowing while the product's processes and its database are killed.

    uv run python bench/chaos.py [--help]

It starts an embedded PostgreSQL, `yourclaw serve`, `yourclaw worker` and `yourclaw reconcile` as subprocesses
(the reconciler on the stand-in runtime, MOCK_CONTAINERS: its stand-in assistants run inside its process and
answer `echo: <text>`), and the product's Twilio stand-in in this process, which records every send. USERS users
with verified numbers, credit and a wanted assistant are inserted directly; the reconciler brings them READY.

Phase 1: MESSAGES signed WhatsApp webhooks (spread over the users, at RATE a second) while serve, worker and
reconcile are each SIGKILLed KILLS times at random moments and started again at once (as a supervisor would).
A webhook that fails (connection refused, 5xx) is sent again, as Twilio retries it. Counted: replies that never
reached Twilio (lost), replies that reached it more than once (doubled), and how long each process took to be
back after its kill: serve, its health answering; worker, the next send reaching Twilio; reconcile, every
assistant polling again from a new instance.
Phase 2: PG_MESSAGES more while PostgreSQL is stopped (fast shutdown) for PG_DOWN seconds mid-load and started
again on the same data directory; nothing else is touched. Counted: lost, doubled, and how long after the
database returned the API answered its health and the first reply reached Twilio.
Phase 3 (bench/_chaos/engine_outage.py, runs as root): ENGINE_USERS assistants on two real Docker engines over
mutual TLS with the stand-in assistant image; one engine stopped ENGINE_DOWN seconds while messages go to the
other's assistants. Counted: the other engine's assistants READY and answering throughout, the stopped
engine's assistants' time to READY after it returned, and the managed volumes on each engine before and after.
`--phase kill|pg|engine` runs one phase alone (default: all three).

Everything listens on 127.0.0.1 and is stopped by pid at the end (also on error and Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common.database import sql  # noqa: E402
from _common.processes import Procs, clean_leftovers, interrupt_on_sigterm, postmaster_pid, wait_http  # noqa: E402
from _common.report import machine_summary, say  # noqa: E402
from _webhook.signed_requests import TWILIO_NUMBER, WEBHOOK_PATH  # noqa: E402
from _webhook.stack import stack_env, stop_everything  # noqa: E402
from _webhook.timed_standins import TimedTwilio  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

from yourclaw.credits import repository as credits_repo  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from yourclaw.db.models import Assistant, User, UserPhone  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402
from yourclaw.kit.logs import configure_logging  # noqa: E402
from yourclaw.llm.catalog import DEFAULT_MODEL  # noqa: E402
from yourclaw.protocol import tokens  # noqa: E402

TMP_PREFIX = "yourclaw-bench-chaos-"
DAEMONS = ("serve", "worker", "reconcile")


class Chaos:
    def __init__(self, args, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Procs(workdir)
        self.pg = EmbeddedPostgres(workdir / "pg")
        self.twilio = TimedTwilio(status_callbacks=())
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.dsn = ""
        self.env: dict[str, str] = {}
        self.phones: list[str] = []
        self.sent_webhooks = 0
        self.webhook_retries = 0

    # --- the stack -------------------------------------------------------------------------------------

    def argv(self, name: str) -> list[str]:
        if name == "serve":
            return [sys.executable, "-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return [sys.executable, "-m", "yourclaw", name]

    def start(self, name: str):
        env = dict(self.env)
        if name == "reconcile":
            env["MOCK_CONTAINERS"] = "true"
        return self.procs.start(name, self.argv(name), env, log=self.workdir / f"{name}.log")

    async def up(self) -> None:
        self.dsn = self.pg.start()
        self.twilio.start()
        self.env = stack_env(self.workdir, self.dsn, self.api_url, self.twilio, "WARNING")
        self.env.update(INBOUND_LEASE_SECONDS=str(self.args.lease), RECONCILE_INTERVAL="1")
        serve = self.procs.start("serve", self.argv("serve") + ["--migrate"], self.env, log=self.workdir / "serve.log")
        await wait_http(f"{self.api_url}/api/v1/health", serve, "serve", log=self.workdir / "serve.log")
        await self.seed()
        self.start("worker")
        self.start("reconcile")
        t0 = time.monotonic()
        await self.until(self.all_polling_since, datetime.now(UTC).replace(year=2000), what="assistants READY")
        say(f"{self.args.users} assistants READY {time.monotonic() - t0:.1f} s after the reconciler started")

    async def seed(self) -> None:
        engine = make_engine(self.dsn, pool_size=2)
        box = SecretBox([self.env["ENCRYPTION_KEY"]])
        try:
            async with transaction(make_sessionmaker(engine)) as s:
                for i in range(self.args.users):
                    user_id, phone = uuid.uuid4(), f"+1555300{i:04d}"
                    s.add(User(id=user_id, email=f"chaos{i}@bench.invalid"))
                    now = datetime.now(UTC)
                    s.add(UserPhone(user_id=user_id, phone_e164=phone, verified_at=now, last_inbound_at=now))
                    await s.flush()
                    row = Assistant(user_id=user_id, model=DEFAULT_MODEL, status="PROVISIONING", phase="creating")
                    s.add(row)
                    await s.flush()
                    await tokens.issue(s, box, user_id=user_id, assistant_id=row.id)
                    await credits_repo.grant(s, user_id, 10**9, reference="bench-chaos")
                    self.phones.append(phone)
        finally:
            await engine.dispose()

    async def all_polling_since(self, since: datetime) -> bool:
        try:
            (rows,) = await sql(
                self.dsn,
                f"SELECT count(*) AS n FROM assistants WHERE status = 'READY' "
                f"AND last_poll_at > '{since.isoformat()}'::timestamptz",
            )
        except (OSError, Exception):  # the database itself may be down in phase 2
            return False
        return rows[0]["n"] == self.args.users

    async def until(self, check, *args, what: str, timeout: float = 180.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if await check(*args):
                return time.monotonic() - start
            await asyncio.sleep(0.1)
        raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")

    # --- load ------------------------------------------------------------------------------------------

    async def send(self, http: httpx.AsyncClient, phone: str, text: str, deadline: float) -> None:
        """One webhook, sent again until it is accepted, as Twilio retries a failed one."""
        sid = "SM" + uuid.uuid4().hex
        url = self.api_url + WEBHOOK_PATH
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.twilio.account_sid,
            "From": f"whatsapp:{phone}",
            "To": TWILIO_NUMBER,
            "Body": text,
            "NumMedia": "0",
            "WaId": phone.lstrip("+"),
            "ProfileName": "Chaos",
        }
        headers = {"X-Twilio-Signature": self.twilio.sign(url, params)}
        while time.monotonic() < deadline:
            try:
                answer = await http.post(url, data=params, headers=headers)
                if answer.status_code < 500:
                    self.sent_webhooks += 1
                    return
            except httpx.HTTPError:
                pass
            self.webhook_retries += 1
            await asyncio.sleep(0.5)
        raise RuntimeError(f"a webhook was never accepted: {text}")

    async def load(self, tag: str, count: int) -> list[str]:
        """`count` messages at RATE a second, round robin over the users; returns their texts."""
        texts = [f"{tag} {n:04d} {uuid.uuid4().hex[:6]}" for n in range(count)]
        deadline = time.monotonic() + 600
        async with httpx.AsyncClient(timeout=10.0) as http:
            tasks = []
            for n, text in enumerate(texts):
                tasks.append(asyncio.create_task(self.send(http, self.phones[n % len(self.phones)], text, deadline)))
                await asyncio.sleep(1 / self.args.rate)
            await asyncio.gather(*tasks)
        return texts

    def replies(self) -> Counter:
        return Counter(body for _, _, body, status in list(self.twilio.received) if status == 201)

    async def settle(self, texts: list[str], timeout: float) -> tuple[int, int, float]:
        """Waits until every text's reply reached Twilio (or the timeout): (lost, doubled, seconds waited)."""
        start = time.monotonic()
        wanted = [f"echo: {t}" for t in texts]
        while time.monotonic() - start < timeout:
            got = self.replies()
            if all(got[w] >= 1 for w in wanted):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # anything doubled arrives within the sender's next passes
        got = self.replies()
        return sum(1 for w in wanted if got[w] == 0), sum(1 for w in wanted if got[w] > 1), time.monotonic() - start

    # --- phase 1: SIGKILL ------------------------------------------------------------------------------

    async def kill_and_restart(self, name: str) -> tuple[str, float]:
        proc = self.procs.children[name]
        killed_at = datetime.now(UTC)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.procs.children.pop(name)
        sends_before = len(self.twilio.received)
        self.start(name)
        if name == "serve":
            await self.until(self.healthy, what="serve back")
        elif name == "worker":
            await self.until(self.sent_since, sends_before, what="a send after the worker's restart")
        else:
            await self.until(self.all_polling_since, killed_at, what="every assistant polling again")
        return name, time.monotonic() - t0

    async def healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                return (await http.get(f"{self.api_url}/api/v1/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def sent_since(self, count: int) -> bool:
        return len(self.twilio.received) > count

    async def phase1(self) -> None:
        rng = random.Random(self.args.seed)
        duration = self.args.messages / self.args.rate
        moments = sorted(
            (rng.uniform(0.1 * duration, 0.85 * duration), name) for name in DAEMONS for _ in range(self.args.kills)
        )
        say(
            f"\nphase 1: {self.args.messages} messages at {self.args.rate:g}/s over {len(self.phones)} users; "
            f"SIGKILL at (s): " + ", ".join(f"{name}@{t:.1f}" for t, name in moments)
        )
        backs: list[tuple[str, float]] = []

        async def chaos() -> None:
            start = time.monotonic()
            for at, name in moments:
                await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
                backs.append(await self.kill_and_restart(name))

        texts, _ = await asyncio.gather(self.load("chaos", self.args.messages), chaos())
        lost, doubled, waited = await self.settle(texts, timeout=240)
        say(f"  webhooks accepted {self.sent_webhooks}, sent again after a failure {self.webhook_retries}")
        say(f"  replies: lost {lost}, doubled {doubled} of {len(texts)} (all in {waited:.1f} s after the last webhook)")
        for name in DAEMONS:
            times = [t for n, t in backs if n == name]
            say(f"  {name:9s} back after SIGKILL: " + ", ".join(f"{t:.2f} s" for t in times))

    # --- phase 2: PostgreSQL restarted -----------------------------------------------------------------

    async def phase2(self) -> None:
        say(
            f"\nphase 2: {self.args.pg_messages} messages at {self.args.rate:g}/s; PostgreSQL stopped "
            f"{self.args.pg_down:g} s, {self.args.pg_at:g} s into the load"
        )
        self.sent_webhooks = self.webhook_retries = 0
        figures: dict[str, float] = {}

        async def restart_pg() -> None:
            await asyncio.sleep(self.args.pg_at)
            pid = postmaster_pid(self.workdir / "pg")
            self.pg.stop()
            assert pid is None or not _alive_after(pid, 20), "PostgreSQL did not stop"
            await asyncio.sleep(self.args.pg_down)
            self.pg = EmbeddedPostgres(self.workdir / "pg")
            self.pg.start()
            back, back_at = time.monotonic(), datetime.now(UTC)
            sends = len(self.twilio.received)
            figures["health"] = await self.until(self.healthy, what="serve healthy after PostgreSQL")
            await self.until(self.sent_since, sends, what="a send after PostgreSQL")
            figures["send"] = time.monotonic() - back
            await self.until(self.all_polling_since, back_at, what="every assistant polling after PostgreSQL")
            figures["polling"] = time.monotonic() - back

        texts, _ = await asyncio.gather(self.load("pg", self.args.pg_messages), restart_pg())
        lost, doubled, waited = await self.settle(texts, timeout=240)
        alive = [name for name in DAEMONS if self.procs.children[name].poll() is None]
        say(f"  webhooks accepted {self.sent_webhooks}, sent again after a failure {self.webhook_retries}")
        say(f"  replies: lost {lost}, doubled {doubled} of {len(texts)} (all in {waited:.1f} s after the last webhook)")
        say(
            f"  after PostgreSQL returned: API healthy in {figures['health']:.2f} s, first reply at Twilio in "
            f"{figures['send']:.2f} s, every assistant polling in {figures['polling']:.2f} s"
        )
        say(f"  no manual step: {len(alive)}/3 processes ({', '.join(alive)}) are the ones started before")


def _alive_after(pid: int, seconds: float) -> bool:
    from _common.processes import alive

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    return alive(pid)


async def run(args) -> int:
    clean_leftovers(TMP_PREFIX)
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    chaos = Chaos(args, workdir)
    say(machine_summary())
    ok = False
    try:
        await chaos.up()
        if args.phase in ("all", "kill"):
            await chaos.phase1()
        if args.phase in ("all", "pg"):
            await chaos.phase2()
        ok = True
    finally:
        stop_everything(chaos.procs, chaos.twilio, chaos.pg, postmaster_pid(workdir / "pg"))
        if args.keep or not ok:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10, help="users with an assistant (10)")
    parser.add_argument("--messages", type=int, default=500, help="messages in phase 1 (500)")
    parser.add_argument("--rate", type=float, default=8.0, help="webhooks a second (8)")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs of each process in phase 1 (2)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the kill moments (7)")
    parser.add_argument("--lease", type=int, default=15, help="INBOUND_LEASE_SECONDS (15)")
    parser.add_argument("--pg-messages", type=int, default=200, help="messages in phase 2 (200)")
    parser.add_argument("--pg-at", type=float, default=8.0, help="seconds into phase 2 PostgreSQL stops (8)")
    parser.add_argument("--pg-down", type=float, default=5.0, help="seconds PostgreSQL stays down (5)")
    parser.add_argument("--engine-users", type=int, default=10, help="assistants over the two engines in phase 3 (10)")
    parser.add_argument("--engine-down", type=float, default=60.0, help="seconds one engine stays down (60)")
    parser.add_argument("--engine-timeout", type=float, default=180.0, help="seconds allowed to be READY (180)")
    parser.add_argument("--phase", choices=("all", "kill", "pg", "engine"), default="all", help="one phase alone")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    args = parser.parse_args()
    interrupt_on_sigterm()
    try:
        code = 0 if args.phase == "engine" else asyncio.run(run(args))
        if args.phase in ("all", "engine"):
            from _chaos.engine_outage import phase_engine

            phase_engine(args)
        return code
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
