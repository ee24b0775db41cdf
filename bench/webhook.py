"""Webhook benchmark: the durable ack of Twilio's signed webhooks, and the hand-off to polling assistants.

    cd /work/main && uv run python bench/webhook.py [--help]

Part 1, `yourclaw serve` (a subprocess) on an embedded PostgreSQL of its own:
  1a  signed WhatsApp webhook POSTs, closed loop at concurrency 32 for 20 s: throughput, p50/p99 ack latency;
  1b  the ceiling for a durable ack, in the same run on the same server: 32 asyncpg connections doing
      BEGIN; INSERT of a row like the webhook's (a scratch copy of `inbound_messages`); COMMIT, for 20 s;
  1c  open loop at 200 req/s for 20 s, latency measured from each request's scheduled send time.
Part 2, the same `serve` plus `yourclaw worker` (router + sender) talking to a local Twilio stand-in
(`TwilioStandin`, run here so its receive times are known), and 101 stand-in assistants as subprocesses that
long-poll the API (100 idle, 1 busy). Messages go to the busy user one after another; measured per message:
  (a) webhook answered -> the message in the assistant's hands (its poll response read);
  (b) the assistant's reply POST answered 202 -> the Twilio stand-in receiving the send;
  and the whole round trip webhook -> reply at Twilio.

Everything runs on 127.0.0.1 and is started and stopped here, by pid (leftovers of a killed run are stopped
at the next start). Figures are printed in tables with their targets; CPU used per process group is printed
per phase because the machine has 2 cores shared by the load generator, the API, PostgreSQL and whatever
else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from _stats import pct  # noqa: E402  (bench/ is on sys.path when run as a script)
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from yourclaw.credits import repository as credits_repo  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from yourclaw.db.models import Assistant, User, UserPhone  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402
from yourclaw.kit.logs import configure_logging  # noqa: E402
from yourclaw.llm.catalog import DEFAULT_MODEL  # noqa: E402
from yourclaw.protocol import tokens  # noqa: E402
from yourclaw.runtime import openclaw_config  # noqa: E402
from yourclaw.standins.twilio import TwilioStandin  # noqa: E402

WEBHOOK_PATH = "/api/v1/webhooks/twilio/whatsapp"
STANDIN = ROOT / "src" / "yourclaw" / "standins" / "assistant.py"
TMP_PREFIX = "yourclaw-bench-webhook-"
PIDS_FILE = "pids.json"
TWILIO_NUMBER = "whatsapp:+14155238886"
LEASE_SECONDS = 60  # the default; the hand-out moment is read back as lease_until - this

TARGET_RATIO = 0.50  # ack throughput / bare INSERT+COMMIT rate
TARGET_P99_MS = 25.0  # at the fixed rate
TARGET_HANDOFF_MS = 20.0  # (a) p50
TARGET_SEND_MS = 20.0  # (b) p50


def say(*parts: object) -> None:
    print(*parts, flush=True)


def ms(value: float) -> str:
    return "n/a" if value != value else f"{value * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    say("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    say(line)
    for row in rows:
        say("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


# --- processes: started here, stopped here, by pid -------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mentions(pid: int, marker: str) -> bool:
    """True when the process's command line or environment names `marker` (our temp dir): only then is a
    leftover pid ours to stop."""
    for name in ("cmdline", "environ"):
        try:
            if marker.encode() in Path(f"/proc/{pid}/{name}").read_bytes():
                return True
        except OSError:
            pass
    return False


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def clean_leftovers() -> None:
    """Stops what a killed earlier run left behind (its pids are in its temp dir) and removes the dir."""
    for old in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        try:
            pids = json.loads((old / PIDS_FILE).read_text())
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            if _alive(pid) and _mentions(pid, str(old)):
                stop_pid(pid, wait=5)
        pg = postmaster_pid(old / "pg")
        if pg is not None and _alive(pg) and _mentions(pg, str(old)):
            stop_pid(pg, sig=signal.SIGINT, wait=10)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(old, ignore_errors=True)
        say(f"removed the leftovers of an earlier run in {old}")


class Procs:
    """Every child started here, recorded in the temp dir as it starts, stopped by pid at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: dict[str, subprocess.Popen] = {}

    def _record(self) -> None:
        pids = [p.pid for p in self.children.values()]
        (self.workdir / PIDS_FILE).write_text(json.dumps(pids))

    def start(self, name: str, argv: list[str], env: dict[str, str], *, log: Path, stdout=None) -> subprocess.Popen:
        with open(log, "ab") as err:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else err,
                stderr=err,
                start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children in order
            )
        self.children[name] = proc
        self._record()
        return proc

    def stop(self, names: Iterable[str] | None = None) -> None:
        chosen = list(self.children) if names is None else [n for n in names if n in self.children]
        for name in chosen:  # signal all first, then wait: a hundred stand-ins stop in parallel
            proc = self.children[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name in chosen:
            proc = self.children.pop(name)
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._record()


# --- CPU accounting ------------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based, as in proc(5)).
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _machine() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) / TICK, (values[3] + values[4]) / TICK


class GcPauses:
    """The benchmark process's own collector pauses. The generator holds every pre-signed request and every
    latency measured so far; a full collection over them stopped its loop for ~70 ms, and an open loop counts
    that lateness against the server. So each phase starts with that heap frozen, and the longest pause left
    is printed."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)

    def restart(self) -> None:
        gc.collect()
        gc.freeze()
        self.longest = 0.0


@dataclass
class CpuPhase:
    label: str
    wall: float
    groups: dict[str, float]  # seconds of CPU
    machine_busy: float  # seconds of CPU, whole machine
    generator_gc: float  # the benchmark process's longest collector pause, seconds


class CpuMeter:
    """CPU seconds per process group over a phase: the benchmark process itself (the load generator, or the
    asyncpg client, and the Twilio stand-in in part 2), `serve`, the worker, PostgreSQL (postmaster and
    backends, exited ones included), the stand-in assistants, and the rest of the machine."""

    def __init__(self, groups: Callable[[], dict[str, list[tuple[int, bool]]]]) -> None:
        self.groups = groups
        self.phases: list[CpuPhase] = []
        self.gc = GcPauses()

    def _sample(self) -> tuple[dict[str, float], float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {"benchmark (generator)": usage.ru_utime + usage.ru_stime}
        for name, pids in self.groups().items():
            out[name] = sum(_proc_cpu(pid, children=kids) for pid, kids in pids)
        total, idle = _machine()
        return out, total, idle

    @contextlib.contextmanager
    def phase(self, label: str):
        self.gc.restart()
        before, total0, idle0 = self._sample()
        began = time.monotonic()
        try:
            yield
        finally:
            after, total1, idle1 = self._sample()
            groups = {k: max(0.0, after.get(k, 0.0) - before.get(k, 0.0)) for k in after}
            busy = (total1 - total0) - (idle1 - idle0)
            self.phases.append(CpuPhase(label, time.monotonic() - began, groups, busy, self.gc.longest))

    def last(self) -> CpuPhase:
        return self.phases[-1]

    def print(self) -> None:
        names: list[str] = []
        for p in self.phases:
            for k in p.groups:
                if k not in names:
                    names.append(k)
        header = ("phase", "wall", *names, "rest of machine", "machine")
        rows = []
        for p in self.phases:
            ours = sum(p.groups.values())
            cells = [f"{p.groups.get(n, 0.0) / p.wall:.2f}" for n in names]
            rest = max(0.0, p.machine_busy - ours) / p.wall
            rows.append((p.label, f"{p.wall:.1f} s", *cells, f"{rest:.2f}", f"{p.machine_busy / p.wall:.2f}"))
        say(f"CPU used, in cores (of {os.cpu_count()}), per phase:")
        table(rows, header)
        for p in self.phases:
            rest = max(0.0, p.machine_busy - sum(p.groups.values())) / p.wall
            if rest > 0.25:
                say(
                    f"WARNING: other work on this machine used {rest:.2f} cores during '{p.label}': "
                    "its figures say more about that contention than about the product"
                )


# --- signed webhooks over a small HTTP/1.1 keep-alive client -------------------------------------------------


class Webhooks:
    """Signed Twilio WhatsApp webhooks with unique MessageSids from a set of numbers, as raw HTTP/1.1 requests.
    Signed with the twilio SDK's own RequestValidator (what Twilio does, what `serve` checks)."""

    def __init__(self, api_url: str, auth_token: str, account_sid: str, phones: list[str]) -> None:
        self.url = api_url.rstrip("/") + WEBHOOK_PATH
        self.host = api_url.split("://", 1)[1].rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.phones = phones
        self.run = secrets.token_hex(6)
        self.count = 0

    def build(self, from_phone: str | None = None, text: str | None = None) -> bytes:
        self.count += 1
        n = self.count
        phone = from_phone or self.phones[n % len(self.phones)]
        sid = f"SM{self.run}{n:020x}"
        params = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": f"Bench {n % 1000}",
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": text or f"Hi! Can you remind me to call the dentist tomorrow at 10? ({n})",
            "To": TWILIO_NUMBER,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{phone}",
            "ApiVersion": "2010-04-01",
        }
        signature = self.validator.compute_signature(self.url, params)
        body = urlencode(params).encode()
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: TwilioProxy/1.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def batch(self, n: int) -> list[bytes]:
        return [self.build() for _ in range(n)]


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            length = int(lower[at + 15 : lower.index(b"\r\n", at)])
            if length:
                await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.close()
            raise ConnectionResetError("the server closed the connection")
        return status

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    lags: list[float] = field(default_factory=list)  # open loop: actual send - scheduled send
    max_conns: int = 0
    reconnects: int = 0  # open loop: a spare connection the server had closed meanwhile

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)


async def closed_loop(host: str, port: int, requests: list[bytes], hooks: Webhooks, concurrency: int, seconds: float):
    result = LoadResult()
    conns = [await Conn.open(host, port) for _ in range(concurrency)]
    pool = iter(requests)
    clock = time.perf_counter
    began = clock()
    end = began + seconds

    async def worker(conn: Conn) -> None:
        while clock() < end:
            raw = next(pool, None) or hooks.build()
            t0 = clock()
            try:
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.errors[type(exc).__name__] += 1
                conn.close()
                conn = await Conn.open(host, port)
                continue
            result.latencies.append(clock() - t0)
            result.statuses[status] += 1
        conn.close()

    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed = clock() - began
    result.max_conns = concurrency
    return result


async def open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> LoadResult:
    """Sends at fixed times (i / rate), whatever the answers do: a late answer does not delay the next send.
    Latency is counted from the scheduled time, so the generator's own lateness counts against us too."""
    result = LoadResult()
    idle = [await Conn.open(host, port) for _ in range(16)]
    opened = len(idle)
    clock = time.perf_counter
    n = int(rate * seconds)
    began = clock() + 0.05
    tasks = []

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal opened
        if idle:
            conn = idle.pop()
        else:
            conn = await Conn.open(host, port)
            opened += 1
        result.lags.append(clock() - scheduled)
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError):
            # uvicorn closes a keep-alive connection after 5 s idle: a spare one may be gone. Sent again on a new
            # connection (harmless: the MessageSid makes a repeat a no-op), still timed from the schedule.
            conn.close()
            result.reconnects += 1
            try:
                conn = await Conn.open(host, port)
                opened += 1
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.errors[type(exc).__name__] += 1
                conn.close()
                return
        result.latencies.append(clock() - scheduled)
        result.statuses[status] += 1
        idle.append(conn)

    for i in range(n):
        scheduled = began + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i], scheduled)))
    await asyncio.gather(*tasks)
    result.elapsed = clock() - began
    result.max_conns = opened
    for conn in idle:
        conn.close()
    return result


# --- the bare asyncpg ceiling ---------------------------------------------------------------------------------

SCRATCH = "bench_ceiling"


async def ceiling(
    dsn: str, concurrency: int, seconds: float, *, notify: bool = False
) -> tuple[int, float, list[float]]:
    """BEGIN; INSERT one row like the webhook's into a scratch copy of inbound_messages; COMMIT — in a loop
    on `concurrency` connections. With `notify`, the transaction also sends a NOTIFY, as the webhook's do."""
    conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    run = secrets.token_hex(6)
    stmt = (
        f"INSERT INTO {SCRATCH} (message_sid, from_phone, wa_id, profile_name, body, media, status) "
        "VALUES ($1, $2, $3, $4, $5, '[]'::jsonb, 'RECEIVED') RETURNING id"
    )
    clock = time.perf_counter
    latencies: list[float] = []
    done = 0
    began = clock()
    end = began + seconds

    async def loop(conn: asyncpg.Connection, k: int) -> None:
        nonlocal done
        n = 0
        while clock() < end:
            n += 1
            t0 = clock()
            async with conn.transaction():
                row_id = await conn.fetchval(
                    stmt, f"SM{run}{k:03d}{n:017x}", "+15550100000", "15550100000", "Bench", "Hi! Can you remind me"
                )
                if notify:
                    await conn.execute("SELECT pg_notify('bench_ceiling', $1)", str(row_id))
            latencies.append(clock() - t0)
            done += 1

    try:
        await asyncio.gather(*(loop(c, k) for k, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    return done, clock() - began, latencies


# --- part 2: Twilio stand-in with receive times, the busy assistant with hand-off times --------------------------


class TimedTwilio(TwilioStandin):
    """The product's Twilio stand-in, noting when each send reaches it (before it answers). Its signed status
    callbacks go through one kept-alive client: `httpx.post` builds a client, TLS context included, per call,
    which cost this process tens of milliseconds of CPU per callback and so took CPU from what is measured."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.received: list[tuple[float, str, str, int]] = []
        self.on_send: Callable[[], None] | None = None
        self._http = httpx.Client(timeout=10.0)

    def post_signed(self, url: str, params: dict[str, str]) -> httpx.Response:
        return self._http.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)})

    def stop(self) -> None:
        super().stop()
        if self._http is not None:
            self._http.close()

    def _create(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        arrived = time.time()
        status, payload = super()._create(form)
        self.received.append((arrived, form.get("To", [""])[0], form.get("Body", [""])[0], status))
        if self.on_send is not None:
            self.on_send()
        return status, payload


# Runs the product's StandinAssistant in a process of its own, adding one JSON line on stdout with a time
# stamp at the three moments measured: the poll's answer read (the batch in its hands), each POST answered
# (outbound reply, ack). The stand-in's own log lines stay on stderr.
BUSY_STANDIN = r"""
import importlib.util, json, signal, sys, threading, time
spec = importlib.util.spec_from_file_location("standin", sys.argv[1])
standin = importlib.util.module_from_spec(spec)
sys.modules["standin"] = standin  # dataclasses look their module up there
spec.loader.exec_module(standin)
out_lock = threading.Lock()

def emit(**event):
    with out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

class Timed(standin.StandinAssistant):
    def _handle_batch(self, body):
        t = time.time()
        try:
            for m in json.loads(body)["messages"]:
                emit(e="handed", id=m["id"], text=m.get("text"), t=t)
        except (ValueError, KeyError, TypeError):
            pass
        super()._handle_batch(body)

    def _post(self, path, body, headers):
        status = super()._post(path, body, headers)
        t = time.time()
        if path.endswith("/outbound"):
            emit(e="replied", key=headers.get("Idempotency-Key"), status=status, t=t)
        elif path.endswith("/ack"):
            emit(e="acked", id=path.split("/")[-2], status=status, t=t)
        return status

stopping = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: stopping.set())
assistant = Timed(sys.argv[2], health_port=None, instance_id=sys.argv[3], poll_wait=int(sys.argv[4]))
assistant.start()
while not stopping.wait(0.5):
    pass
assistant.stop()
"""


class Events:
    """Time-stamped events from the busy stand-in and the Twilio stand-in, waited for from asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.changed = asyncio.Event()
        self.handed: dict[str, tuple[str, float]] = {}  # text -> (message id, t)
        self.replied: dict[str, tuple[int | None, float]] = {}  # message id -> (status, t)
        self.acked: dict[str, tuple[int | None, float]] = {}
        self.sent: dict[str, float] = {}  # body at Twilio -> t
        self.other: list[dict] = []

    def bump(self) -> None:
        self.loop.call_soon_threadsafe(self.changed.set)

    def on_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("e")
        if kind == "handed":
            self.handed[event.get("text") or ""] = (event["id"], event["t"])
        elif kind == "replied":
            self.replied[(event.get("key") or "").split(":")[0]] = (event.get("status"), event["t"])
        elif kind == "acked":
            self.acked[event["id"]] = (event.get("status"), event["t"])
        else:
            self.other.append(event)
        self.bump()

    async def until(self, check: Callable[[], object], timeout: float, what: str):
        deadline = self.loop.time() + timeout
        while True:
            self.changed.clear()
            found = check()
            if found:
                return found
            left = deadline - self.loop.time()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


def read_lines(stream, handle: Callable[[str], None]) -> threading.Thread:
    def run() -> None:
        for raw in iter(stream.readline, b""):
            handle(raw.decode(errors="replace"))

    thread = threading.Thread(target=run, name="busy-standin-events", daemon=True)
    thread.start()
    return thread


# --- setup: users, numbers, assistants, tokens, configs -----------------------------------------------------------


def phone_of(group: int, n: int) -> str:
    return f"+1555{group:02d}{n:05d}"


@dataclass
class Seeded:
    sender_phones: list[str]
    busy: tuple[uuid.UUID, str, Path]  # user id, phone, config path
    idle: list[Path]


async def seed(database_url: str, keys: str, api_url: str, workdir: Path, numbers: int, idle: int) -> Seeded:
    engine = make_engine(database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    box = SecretBox([keys])
    now = datetime.now(UTC)
    try:
        # Part 1's senders: verified numbers, so each webhook also opens the user's 24-hour window (an UPDATE
        # and a NOTIFY to the sender), as most real traffic would.
        senders = [(uuid.uuid4(), phone_of(10, i)) for i in range(numbers)]
        async with transaction(sessions) as s:
            await s.execute(
                insert(User), [{"id": u, "email": f"sender{i}@bench.invalid"} for i, (u, _) in enumerate(senders)]
            )
            await s.execute(
                insert(UserPhone),
                [{"user_id": u, "phone_e164": p, "verified_at": now, "last_inbound_at": now} for u, p in senders],
            )
        configs: list[tuple[uuid.UUID, str, Path]] = []
        async with transaction(sessions) as s:
            for i in range(idle + 1):
                user_id, phone = uuid.uuid4(), phone_of(20, i)
                s.add(User(id=user_id, email=f"assistant{i}@bench.invalid"))
                s.add(UserPhone(user_id=user_id, phone_e164=phone, verified_at=now, last_inbound_at=now))
                await s.flush()
                row = Assistant(
                    user_id=user_id,
                    model=DEFAULT_MODEL,
                    status="READY",
                    phase="ready",
                    desired_generation=1,
                    written_generation=1,
                    observed_generation=1,
                    ready_at=now,
                )
                s.add(row)
                await s.flush()
                token = await tokens.issue(s, box, user_id=user_id, assistant_id=row.id)
                await credits_repo.grant(s, user_id, 10**9, reference="bench-webhook")
                config = openclaw_config.render(
                    user_id=user_id, model=DEFAULT_MODEL, token=token, api_url=api_url, generation=1
                )
                home = workdir / "assistants" / f"a{i:03d}"
                home.mkdir(parents=True)
                path = home / "openclaw.json"
                path.write_bytes(openclaw_config.config_bytes(config))
                path.chmod(0o600)
                configs.append((user_id, phone, path))
        busy = configs[0]
        return Seeded([p for _, p in senders], busy, [c[2] for c in configs[1:]])
    finally:
        await engine.dispose()


# --- the benchmark ------------------------------------------------------------------------------------------------


@dataclass
class Env:
    workdir: Path
    dsn: str
    port: int
    api_url: str
    env: dict[str, str]
    standin: TimedTwilio
    procs: Procs
    pg_pid: int | None


def base_env(workdir: Path, dsn: str, api_url: str, standin: TwilioStandin, log_level: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOCK_", "SUPABASE_", "YOURCLAW_", "TWILIO_", "STRIPE_", "RATE_LIMIT_", "WORKER_"))
        and k not in ("DATABASE_URL", "ENCRYPTION_KEY", "DEV_JWT_SECRET", "API_URL", "APP_URL", "RUNTIME_API_URL")
    }
    env.update(
        YOURCLAW_ENV="development",
        YOURCLAW_STATE_DIR=str(workdir / "state"),
        DATABASE_URL=dsn,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEV_JWT_SECRET=secrets.token_urlsafe(32),
        API_URL=api_url,
        APP_URL=api_url,
        LOG_LEVEL=log_level,
        TWILIO_ACCOUNT_SID=standin.account_sid,
        TWILIO_AUTH_TOKEN=standin.auth_token,
        TWILIO_WHATSAPP_NUMBER=TWILIO_NUMBER,
        TWILIO_API_BASE_URL=standin.base_url,
        MOCK_TWILIO="true",
        # One user writes a few hundred messages in a minute here: the per-user limits (5/min, 100/day) would
        # refuse most of them, which is not what is measured.
        RATE_LIMIT_MSG_PER_MIN="100000",
        RATE_LIMIT_MSG_PER_DAY="1000000",
        INBOUND_LEASE_SECONDS=str(LEASE_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}); see {log}")
        try:
            conn = await Conn.open("127.0.0.1", port)
            try:
                status = await asyncio.wait_for(
                    conn.request(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 5
                )
            finally:
                conn.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no answer on port {port} after {timeout:g} s; see {log}")


async def sql(dsn: str, *statements: str) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for stmt in statements:
            out.append(await conn.fetch(stmt))
        return out
    finally:
        await conn.close()


def log_problems(path: Path) -> Counter:
    """WARNING and worse in a product log (JSON lines), by event."""
    found: Counter = Counter()
    if not path.exists():
        return found
    for line in path.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            if line.strip():
                found[f"(plain) {line.strip()[:80]}"] += 1
            continue
        if isinstance(doc, dict) and doc.get("level") in ("warning", "error", "critical", "exception"):
            found[f"{doc.get('level')}: {doc.get('event')}"] += 1
    return found


async def part1(e: Env, args, hooks: Webhooks, cpu: CpuMeter) -> dict:
    host, port = "127.0.0.1", e.port
    say(f"\n== Part 1: signed webhooks against `yourclaw serve` ({args.concurrency} connections, {args.seconds:g} s)")
    # Warm-up: the pool's connections, statement caches, first-call paths.
    warm = await closed_loop(host, port, hooks.batch(200), hooks, args.concurrency, args.warmup)
    say(f"warm-up: {warm.ok} webhooks in {warm.elapsed:.1f} s ({dict(warm.statuses)})")

    await sql(e.dsn, "CHECKPOINT")
    estimate = max(2000, int(warm.ok / max(warm.elapsed, 0.1) * args.seconds * 1.5))
    requests = hooks.batch(estimate)
    with cpu.phase(f"1a webhooks c={args.concurrency}"):
        a = await closed_loop(host, port, requests, hooks, args.concurrency, args.seconds)
    cpu_a = cpu.last()
    del requests

    await sql(
        e.dsn,
        f"DROP TABLE IF EXISTS {SCRATCH}",
        f"CREATE TABLE {SCRATCH} (LIKE inbound_messages INCLUDING ALL)",
        "CHECKPOINT",
    )
    with cpu.phase(f"1b asyncpg INSERT+COMMIT c={args.concurrency}"):
        b_done, b_elapsed, b_lat = await ceiling(e.dsn, args.concurrency, args.seconds)
    cpu_b = cpu.last()
    b_notify = None
    if args.notify_ceiling:
        await sql(e.dsn, "CHECKPOINT")
        with cpu.phase("1b' same + NOTIFY"):
            b_notify = await ceiling(e.dsn, args.concurrency, args.notify_seconds, notify=True)

    await sql(e.dsn, "CHECKPOINT")
    requests = hooks.batch(int(args.rate * args.seconds))
    with cpu.phase(f"1c webhooks {args.rate:g}/s"):
        c = await open_loop(host, port, requests, args.rate, args.seconds)
    cpu_c = cpu.last()
    del requests

    a_rate = a.ok / a.elapsed
    b_rate = b_done / b_elapsed
    ratio = a_rate / b_rate if b_rate else float("nan")
    p99_c = pct(c.latencies, 0.99)
    say("")
    rows = [
        (
            f"1a ack throughput, closed loop c={args.concurrency}",
            f"{a_rate:.0f} webhooks/s ({a.ok} in {a.elapsed:.1f} s)",
            f"≥ {TARGET_RATIO:.0%} of 1b = {TARGET_RATIO * b_rate:.0f}/s",
            verdict(ratio >= TARGET_RATIO),
        ),
        (
            "   ack latency p50 / p99 / max",
            f"{ms(pct(a.latencies, 0.5))} / {ms(pct(a.latencies, 0.99))} / "
            f"{ms(max(a.latencies, default=float('nan')))}",
            "",
            "",
        ),
        (
            f"1b ceiling: asyncpg BEGIN+INSERT+COMMIT c={args.concurrency}",
            f"{b_rate:.0f} commits/s (p50 {ms(pct(b_lat, 0.5))}, p99 {ms(pct(b_lat, 0.99))})",
            "",
            "",
        ),
        ("   1a / 1b", f"{ratio:.0%}", f"≥ {TARGET_RATIO:.0%}", verdict(ratio >= TARGET_RATIO)),
    ]
    if b_notify is not None:
        n_done, n_elapsed, n_lat = b_notify
        rows.append(
            (
                "   1b' same + pg_notify in each transaction",
                f"{n_done / n_elapsed:.0f} commits/s = {n_done / n_elapsed / b_rate:.0%} of 1b "
                f"(p50 {ms(pct(n_lat, 0.5))}, p99 {ms(pct(n_lat, 0.99))})",
                "(diagnostic)",
                "",
            )
        )
    rows += [
        (
            f"1c ack latency at {args.rate:g} req/s, open loop",
            f"p50 {ms(pct(c.latencies, 0.5))}, p99 {ms(p99_c)}, max {ms(max(c.latencies, default=float('nan')))}",
            f"p99 ≤ {TARGET_P99_MS:g} ms",
            verdict(p99_c * 1000 <= TARGET_P99_MS),
        ),
        (
            "   achieved rate / connections used",
            f"{c.ok / c.elapsed:.0f} req/s ({c.ok} ok) / {c.max_conns}",
            "",
            "",
        ),
        (
            "   generator send lag p50 / p99 / max",
            f"{ms(pct(c.lags, 0.5))} / {ms(pct(c.lags, 0.99))} / {ms(max(c.lags, default=float('nan')))}",
            "(counted in it)",
            "",
        ),
        ("   generator's longest GC pause", ms(cpu_c.generator_gc), "(counted in it)", ""),
    ]
    table(rows, ("Part 1", "measured", "target", ""))
    bad = {k: v for r in (a, c) for k, v in r.statuses.items() if k != 200}
    errors = a.errors + c.errors
    say(
        f"non-200 answers: {bad or 'none'}; transport errors: {dict(errors) or 'none'}; in 1c, {c.reconnects} "
        "requests were sent again on a new connection after the server had closed an idle keep-alive one"
    )
    gen_a = cpu_a.groups["benchmark (generator)"]
    gen_c = cpu_c.groups["benchmark (generator)"]
    say(
        f"load generator cost (one asyncio process, raw HTTP/1.1 keep-alive, signing included): "
        f"1a {gen_a / cpu_a.wall:.2f} cores = {gen_a / max(a.ok, 1) * 1e6:.0f} µs/request; "
        f"1c {gen_c / cpu_c.wall:.2f} cores = {gen_c / max(c.ok, 1) * 1e6:.0f} µs/request; "
        f"1b client {cpu_b.groups['benchmark (generator)'] / cpu_b.wall:.2f} cores."
    )
    serve_a = cpu_a.groups.get("serve", 0.0)
    pg_a = cpu_a.groups.get("postgres", 0.0)
    say(
        f"per webhook in 1a: serve {serve_a / max(a.ok, 1) * 1e6:.0f} µs CPU, PostgreSQL "
        f"{pg_a / max(a.ok, 1) * 1e6:.0f} µs CPU; per commit in 1b: PostgreSQL "
        f"{cpu_b.groups.get('postgres', 0.0) / max(b_done, 1) * 1e6:.0f} µs CPU."
    )
    return {"a": a, "b_rate": b_rate, "c": c}


async def part2(e: Env, args, seeded: Seeded, hooks: Webhooks, cpu: CpuMeter) -> None:
    say(f"\n== Part 2: hand-off to polling stand-in assistants ({len(seeded.idle)} idle, 1 busy) and replies to Twilio")
    # Part 1's messages would keep the router busy: they were only about the ack.
    await sql(
        e.dsn,
        "DELETE FROM inbound_messages",
        f"DROP TABLE IF EXISTS {SCRATCH}",
    )
    await sql(e.dsn, "VACUUM ANALYZE", "CHECKPOINT")

    loop = asyncio.get_running_loop()
    events = Events(loop)
    e.standin.on_send = events.bump

    worker_log = e.workdir / "worker.log"
    worker = e.procs.start("worker", [sys.executable, "-m", "yourclaw", "worker"], e.env, log=worker_log)
    standin_log = e.workdir / "standins.log"
    for i, path in enumerate(seeded.idle):
        env = dict(e.env, OPENCLAW_CONFIG_PATH=str(path), STANDIN_HEALTH_PORT="0", HOME=str(path.parent))
        e.procs.start(f"standin-{i}", [sys.executable, str(STANDIN)], env, log=standin_log)
    busy_user, busy_phone, busy_config = seeded.busy
    instance = "bench-busy-" + secrets.token_hex(4)
    busy = e.procs.start(
        "standin-busy",
        [sys.executable, "-c", BUSY_STANDIN, str(STANDIN), str(busy_config), instance, str(args.poll_wait)],
        dict(e.env, HOME=str(busy_config.parent)),
        log=standin_log,
        stdout=subprocess.PIPE,
    )
    read_lines(busy.stdout, events.on_line)

    # Ready when every assistant has polled and the worker's two LISTEN connections are up.
    deadline = time.monotonic() + 90
    wanted = len(seeded.idle) + 1
    while True:
        (polled,), (listening,) = await sql(
            e.dsn,
            "SELECT count(*) AS n FROM assistants WHERE last_poll_at IS NOT NULL",
            "SELECT count(DISTINCT query) AS n FROM pg_stat_activity "
            "WHERE query IN ('LISTEN \"yourclaw_inbound\"', 'LISTEN \"yourclaw_outbox\"', "
            "'LISTEN yourclaw_inbound', 'LISTEN yourclaw_outbox')",
        )
        if polled["n"] >= wanted and listening["n"] >= 2:
            break
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {worker_log}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"not ready after 90 s: {polled['n']}/{wanted} assistants polled, {listening['n']}/2 worker LISTENs"
            )
        await asyncio.sleep(0.25)
    say(f"{wanted} stand-in assistants polling, worker listening")

    conn = await Conn.open("127.0.0.1", e.port)
    standin_sent = standin_sent_lookup(e.standin)
    results: list[dict] = []

    async def one(text: str) -> dict:
        nonlocal conn
        raw = hooks.build(busy_phone, text)
        sent = time.time()
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError):
            conn.close()
            conn = await Conn.open("127.0.0.1", e.port)
            raise
        answered = time.time()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        mid, handed = await events.until(lambda: events.handed.get(text), 10, f"'{text}' handed to the assistant")
        r_status, replied = await events.until(lambda: events.replied.get(mid), 10, "the reply POST")
        body = f"echo: {text}"
        at_twilio = await events.until(lambda: standin_sent(body), 10, "the reply at Twilio")
        await events.until(lambda: events.acked.get(mid), 10, "the ack")
        return {
            "id": mid,
            "sent": sent,
            "answered": answered,
            "handed": handed,
            "replied": replied,
            "reply_status": r_status,
            "twilio": at_twilio,
        }

    for i in range(args.warmup_messages):
        await one(f"warm-up {i} {hooks.run}")
        await asyncio.sleep(args.gap)
    with cpu.phase(f"2 {args.messages} messages in turn"):
        for i in range(args.messages):
            results.append(await one(f"bench {i} {hooks.run}"))
            await asyncio.sleep(args.gap)
    conn.close()

    # Where (a) goes, from the rows: routed_at is now() in the router's transaction (when it began), and
    # lease_until - the lease is clock_timestamp() at the hand-out UPDATE in the poll's transaction.
    ids = [r["id"] for r in results]
    rows = await sql(
        e.dsn,
        "SELECT id::text AS id, extract(epoch FROM received_at) AS received, extract(epoch FROM routed_at) AS routed, "
        f"extract(epoch FROM lease_until - interval '{LEASE_SECONDS} seconds') AS leased, "
        "status, deliveries FROM inbound_messages WHERE id::text = ANY('{%s}'::text[])" % ",".join(ids),
    )
    by_id = {r["id"]: r for r in rows[0]}

    handoff = [r["handed"] - r["answered"] for r in results]
    send = [r["twilio"] - r["replied"] for r in results]
    round_trip = [r["twilio"] - r["answered"] for r in results]
    turn = [r["replied"] - r["handed"] for r in results]
    ack = [r["answered"] - r["sent"] for r in results]
    to_router = [float(by_id[r["id"]]["routed"]) - r["answered"] for r in results if r["id"] in by_id]
    router_to_lease = [
        float(by_id[r["id"]]["leased"]) - float(by_id[r["id"]]["routed"]) for r in results if r["id"] in by_id
    ]
    lease_to_hand = [r["handed"] - float(by_id[r["id"]]["leased"]) for r in results if r["id"] in by_id]

    def row(label: str, values: list[float], target: str = "", ok: bool | None = None) -> tuple[str, ...]:
        return (
            label,
            ms(pct(values, 0.5)),
            ms(pct(values, 0.95)),
            ms(max(values, default=float("nan"))),
            target,
            "" if ok is None else verdict(ok),
        )

    p50_a, p50_b = pct(handoff, 0.5), pct(send, 0.5)
    say("")
    table(
        [
            row(
                "(a) webhook answered -> in the assistant's hands",
                handoff,
                f"p50 ≤ {TARGET_HANDOFF_MS:g} ms",
                p50_a * 1000 <= TARGET_HANDOFF_MS,
            ),
            row("    of which: webhook answered -> router's transaction began", to_router),
            row("    of which: router's transaction began -> poll's hand-out UPDATE", router_to_lease),
            row("    of which: hand-out UPDATE -> poll answer read by the assistant", lease_to_hand),
            row(
                "(b) reply POST answered 202 -> send at Twilio",
                send,
                f"p50 ≤ {TARGET_SEND_MS:g} ms",
                p50_b * 1000 <= TARGET_SEND_MS,
            ),
            row("round trip: webhook answered -> reply at Twilio", round_trip),
            row("for reference: webhook POST -> 200", ack),
            row("for reference: the stand-in's turn (handed -> reply 202)", turn),
        ],
        (f"Part 2 ({len(results)} messages)", "p50", "p95", "max", "target", ""),
    )
    statuses = Counter(r["status"] for r in rows[0])
    deliveries = Counter(r["deliveries"] for r in rows[0])
    reply_statuses = Counter(r["reply_status"] for r in results)
    to_busy = [m for m in e.standin.received if m[1] == f"whatsapp:{busy_phone}"]
    say(
        f"checks: inbound statuses {dict(statuses)}, deliveries {dict(deliveries)}, "
        f"reply POSTs {dict(reply_statuses)}, "
        f"{len(to_busy)} sends to the busy user at Twilio (warm-up included), at most "
        f"{e.standin.max_concurrent_per_recipient} at once per recipient"
    )


def standin_sent_lookup(standin: TimedTwilio) -> Callable[[str], float | None]:
    def find(body: str) -> float | None:
        for arrived, _to, text, status in reversed(standin.received):
            if text == body and status == 201:
                return arrived
        return None

    return find


async def run(args) -> int:
    clean_leftovers()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    procs = Procs(workdir)
    pg = EmbeddedPostgres(workdir / "pg")
    standin = TimedTwilio(status_callbacks=("sent", "delivered") if args.status_callbacks else ())
    pg_pid = None
    serve_pid = None
    cpu: CpuMeter | None = None
    ok = False
    try:
        dsn = pg.start()
        pg_pid = postmaster_pid(workdir / "pg")
        standin.start()
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        env = base_env(workdir, dsn, api_url, standin, args.log_level)
        e = Env(workdir, dsn, port, api_url, env, standin, procs, pg_pid)

        (settings_rows,) = await sql(
            dsn,
            "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit', "
            "'wal_sync_method', 'shared_buffers', 'max_connections', 'commit_delay')",
        )
        pg_settings = {r["name"]: r["setting"] for r in settings_rows}
        stack = [m for m in ("uvloop", "httptools") if find_spec(m)]
        say(
            f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} before start"
        )
        say(
            f"PostgreSQL {pg_settings.get('server_version')} (embedded, unix socket): "
            f"fsync={pg_settings.get('fsync')}, "
            f"synchronous_commit={pg_settings.get('synchronous_commit')}, wal_sync_method="
            f"{pg_settings.get('wal_sync_method')}, shared_buffers={pg_settings.get('shared_buffers')} x 8kB"
        )
        say(
            f"serve: uvicorn, one process, DB_POOL_SIZE default (10 + 10 overflow), LOG_LEVEL={args.log_level}; "
            f"uvloop/httptools installed: {', '.join(stack) or 'neither (asyncio loop, h11 parser)'}"
        )

        serve_log = workdir / "serve.log"
        serve = procs.start(
            "serve",
            [sys.executable, "-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(port), "--migrate"],
            env,
            log=serve_log,
        )
        serve_pid = serve.pid
        await wait_http(port, serve, 120, serve_log)
        seeded = await seed(dsn, env["ENCRYPTION_KEY"], api_url, workdir, args.numbers, args.idle)
        hooks = Webhooks(api_url, standin.auth_token, standin.account_sid, seeded.sender_phones)

        def groups() -> dict[str, list[tuple[int, bool]]]:
            out: dict[str, list[tuple[int, bool]]] = {"serve": [(serve_pid, False)]}
            if pg_pid:
                out["postgres"] = [(pg_pid, True)] + [(p, False) for p in _children_of(pg_pid)]
            worker = procs.children.get("worker")
            if worker is not None:
                out["worker"] = [(worker.pid, False)]
            standins = [(p.pid, False) for n, p in procs.children.items() if n.startswith("standin")]
            if standins:
                out["stand-ins"] = standins
            return out

        cpu = CpuMeter(groups)
        if not args.skip_part1:
            await part1(e, args, hooks, cpu)
        if not args.skip_part2:
            await part2(e, args, seeded, hooks, cpu)
        ok = True
    finally:
        if cpu is not None and cpu.phases:
            say("")
            cpu.print()
            say(
                "the benchmark process is the load generator in 1a/1c, the asyncpg client in 1b, and in part 2 the "
                "webhook sender plus the Twilio stand-in (its status callbacks included). 'rest of machine' is "
                "everything else running here meanwhile."
            )
            say(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        procs.stop([n for n in procs.children if n.startswith("standin")])
        procs.stop(["worker"])
        procs.stop(["serve"])
        procs.stop()
        standin.stop()
        pg.stop()
        if pg_pid is not None and _alive(pg_pid):
            stop_pid(pg_pid, sig=signal.SIGINT, wait=15)
        for name in ("serve.log", "worker.log", "standins.log"):
            problems = log_problems(workdir / name)
            if problems:
                shown = ", ".join(f"{k} x{v}" for k, v in problems.most_common(6))
                say(f"{name}: {sum(problems.values())} warnings/errors ({shown})")
        if args.keep or not ok:
            say(f"logs kept in {workdir}")
            with contextlib.suppress(OSError):
                (workdir / PIDS_FILE).unlink()
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of 1a, 1b and 1c (20)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in 1a and 1b (32)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in 1c (200)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load before 1a (3)")
    parser.add_argument("--numbers", type=int, default=500, help="verified numbers the part 1 webhooks come from")
    parser.add_argument(
        "--no-notify-ceiling",
        dest="notify_ceiling",
        action="store_false",
        help="skip the diagnostic ceiling with a pg_notify in each transaction",
    )
    parser.add_argument("--notify-seconds", type=float, default=10.0, help="length of that diagnostic (10)")
    parser.add_argument("--idle", type=int, default=100, help="idle stand-in assistants in part 2 (100)")
    parser.add_argument("--messages", type=int, default=200, help="messages to the busy assistant in part 2 (200)")
    parser.add_argument("--warmup-messages", type=int, default=10, help="unmeasured messages before them (10)")
    parser.add_argument("--gap", type=float, default=0.1, help="pause after each message's ack, seconds (0.1)")
    parser.add_argument("--poll-wait", type=int, default=25, help="the busy stand-in's long-poll wait (25)")
    parser.add_argument(
        "--no-status-callbacks",
        dest="status_callbacks",
        action="store_false",
        help="the Twilio stand-in posts no 'sent'/'delivered' callbacks (it does by default, as Twilio would)",
    )
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of serve and worker (WARNING)")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part2", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    args = parser.parse_args()

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
