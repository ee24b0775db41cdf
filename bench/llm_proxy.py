"""LLM proxy benchmark: what the metering proxy adds to time to first byte and to total time.

    cd /work/main && uv run python bench/llm_proxy.py [--help]

It starts an embedded PostgreSQL, the local Anthropic standin (`python -m yourclaw.standins.anthropic`, its own
process) and `yourclaw serve --migrate` (a subprocess) with ANTHROPIC_BASE_URL pointing at the standin. Users with
assistants, proxy tokens and credit are inserted directly. Then, at concurrency 1 and 32, each worker sends
streaming `POST /v1/messages` requests alternately straight to the standin and through the proxy
(`/llm/anthropic/v1/messages` with the assistant token as x-api-key), one keep-alive connection per worker and
path, so both paths run under the same load in the same run. The load generator is aiohttp: with httpx it
spent more CPU per call than the proxy did, and on a small machine the figures then measured the generator.
Measured per request: time to the first body byte and to the end of the stream. Added time = proxy percentile
minus direct percentile. Every proxied call is then checked to have been charged (one ledger row each).
Everything started is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402
from _stats import pct  # noqa: E402  (bench/ is on sys.path when run as a script)
from cryptography.fernet import Fernet  # noqa: E402

from yourclaw.credits import repository as credits_repo  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from yourclaw.db.models import Assistant, User  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402
from yourclaw.llm.catalog import DEFAULT_MODEL  # noqa: E402
from yourclaw.protocol import tokens  # noqa: E402

TMP_PREFIX = "yourclaw-bench-llm-"
SHARED_KEY = "sk-ant-bench-" + "k" * 40
TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 512,
    "stream": True,
    "messages": [{"role": "user", "content": "Remind me to call the dentist tomorrow at 10, please."}],
}
REPLY = "Sure: I'll remind you tomorrow at 10:00 to call the dentist."


def say(*parts: object) -> None:
    print(*parts, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clean_leftovers() -> None:
    """A killed earlier run leaves its temp dir (and maybe its processes, which mention that dir)."""
    for old in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        for pid_file in old.glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text())
                if (
                    str(old).encode()
                    in Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
                ):
                    os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(OSError, ValueError):
            pg = int((old / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pg, signal.SIGINT)
            time.sleep(2)
        shutil.rmtree(old, ignore_errors=True)
        say(f"removed the leftovers of an earlier run in {old}")


def start(workdir: Path, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child's lifetime)
    proc = subprocess.Popen(
        argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    (workdir / f"{name}.pid").write_text(str(proc.pid))
    return proc


async def wait_ready(url: str, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited ({proc.returncode}); see its log")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url} in {timeout:g} s")


async def seed(dsn: str, encryption_key: str, users: int) -> list[str]:
    """Users with a READY assistant, a proxy token and plenty of credit; returns the tokens."""
    engine = make_engine(dsn, pool_size=2)
    sessions = make_sessionmaker(engine)
    box = SecretBox([encryption_key])
    out = []
    try:
        async with transaction(sessions) as s:
            for n in range(users):
                user = User(id=uuid.uuid4(), email=f"bench-{n}-{secrets.token_hex(3)}@example.com")
                s.add(user)
                await s.flush()
                assistant = Assistant(user_id=user.id, model=DEFAULT_MODEL, status="READY", phase="ready")
                s.add(assistant)
                await s.flush()
                out.append(await tokens.issue(s, box, user_id=user.id, assistant_id=assistant.id))
                await credits_repo.grant(s, user.id, 10**12, reference=f"bench-{user.id}")
    finally:
        await engine.dispose()
    return out


async def one(http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes) -> tuple[float, float]:
    began = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {(await response.read())[:200]!r}")
        first = None
        async for _ in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    return (first or end) - began, end - began


async def phase(
    standin_url: str, api_url: str, tokens_: list[str], concurrency: int, per_worker: int, warmup: int
) -> dict[str, tuple[list[float], list[float]]]:
    import json

    body = json.dumps(BODY).encode()
    direct_url = standin_url + "/v1/messages"
    proxy_url = api_url + "/llm/anthropic/v1/messages"
    results: dict[str, tuple[list[float], list[float]]] = {"direct": ([], []), "proxy": ([], [])}

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False
        )

    async def worker(n: int) -> None:
        token = tokens_[n % len(tokens_)]
        base = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
        paths = {
            "direct": (direct_url, {**base, "x-api-key": SHARED_KEY}),
            "proxy": (proxy_url, {**base, "x-api-key": token}),
        }
        async with session() as direct, session() as proxied:
            clients = {"direct": direct, "proxy": proxied}
            for i in range(warmup + per_worker):
                # Alternate, starting on a different path per worker: both see the same load.
                order = ("direct", "proxy") if (i + n) % 2 == 0 else ("proxy", "direct")
                for name in order:
                    url, headers = paths[name]
                    ttfb, total = await one(clients[name], url, headers, body)
                    if i >= warmup:
                        results[name][0].append(ttfb)
                        results[name][1].append(total)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return results


def report(concurrency: int, results: dict[str, tuple[list[float], list[float]]]) -> bool:
    def ms(v: float) -> str:
        return f"{v * 1000:.2f}"

    rows = []
    for name in ("direct", "proxy"):
        ttfb, total = results[name]
        rows.append((name, len(ttfb), pct(ttfb, 0.5), pct(ttfb, 0.99), pct(total, 0.5), pct(total, 0.99)))
    d, p = rows
    added = (p[2] - d[2], p[3] - d[3], p[4] - d[4], p[5] - d[5])
    say(f"\nconcurrency {concurrency}")
    say(f"{'path':<8} {'n':>6} {'TTFB p50':>10} {'TTFB p99':>10} {'total p50':>10} {'total p99':>10}   (ms)")
    for name, n, a, b, c, e in rows:
        say(f"{name:<8} {n:>6} {ms(a):>10} {ms(b):>10} {ms(c):>10} {ms(e):>10}")
    say(f"{'added':<8} {'':>6} {ms(added[0]):>10} {ms(added[1]):>10} {ms(added[2]):>10} {ms(added[3]):>10}")
    ok = added[0] * 1000 <= TARGET_P50_MS and added[1] * 1000 <= TARGET_P99_MS
    say(
        f"added TTFB: p50 {ms(added[0])} ms (target ≤ {TARGET_P50_MS:g}), p99 {ms(added[1])} ms "
        f"(target ≤ {TARGET_P99_MS:g}): {'met' if ok else 'MISSED'}"
    )
    return ok


async def run(args: argparse.Namespace) -> int:
    clean_leftovers()
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    pg = EmbeddedPostgres(workdir / "pg")
    standin = serve = None
    ok = False
    try:
        dsn = pg.start()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MOCK_", "SUPABASE_", "YOURCLAW_", "ANTHROPIC_", "STRIPE_", "TWILIO_"))
            and k not in ("DATABASE_URL", "ENCRYPTION_KEY", "DEV_JWT_SECRET", "API_URL", "APP_URL")
        }
        standin_port, api_port = free_port(), free_port()
        standin_url, api_url = f"http://127.0.0.1:{standin_port}", f"http://127.0.0.1:{api_port}"
        usage = '{"input_tokens": 1200, "cache_read_input_tokens": 3000, "output_tokens": 40}'
        standin = start(
            workdir,
            "standin",
            [sys.executable, "-m", "yourclaw.standins.anthropic", "--port", str(standin_port)]
            + ["--event-delay", str(args.event_delay), "--reply", REPLY, "--usage", usage],
            env,
        )
        encryption_key = Fernet.generate_key().decode()
        env.update(
            YOURCLAW_ENV="development",
            YOURCLAW_STATE_DIR=str(workdir / "state"),
            DATABASE_URL=dsn,
            ENCRYPTION_KEY=encryption_key,
            DEV_JWT_SECRET=secrets.token_urlsafe(32),
            API_URL=api_url,
            APP_URL=api_url,
            ANTHROPIC_API_KEY=SHARED_KEY,
            ANTHROPIC_BASE_URL=standin_url,
            LOG_LEVEL=args.log_level,
            MOCK_TWILIO="true",
        )
        serve = start(
            workdir,
            "serve",
            [sys.executable, *(["-m", "cProfile", "-o", str(workdir / "serve.prof")] if args.profile else [])]
            + ["-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--migrate"],
            env,
        )
        await wait_ready(standin_url + "/v1/models", standin, "the Anthropic standin")
        await wait_ready(api_url + "/api/v1/health", serve, "yourclaw serve")
        tokens_ = await seed(dsn, encryption_key, args.users)
        say(
            f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        say(
            f"upstream: the Anthropic stand-in in its own process, {args.event_delay * 1000:g} ms between events; "
            f"serve: uvicorn, one process, LOG_LEVEL={args.log_level}; {args.users} users"
        )
        verdicts = []
        for concurrency, per_worker in ((1, args.requests_c1), (32, args.requests_c32)):
            cpu0, wall0 = cpu_seconds(serve.pid), time.monotonic()
            results = await phase(standin_url, api_url, tokens_, concurrency, per_worker, args.warmup)
            cpu, wall = cpu_seconds(serve.pid) - cpu0, time.monotonic() - wall0
            verdicts.append(report(concurrency, results))
            calls = concurrency * (per_worker + args.warmup)
            say(
                f"serve used {cpu:.1f} CPU-s in {wall:.1f} s ({cpu / wall:.2f} cores): "
                f"{cpu / calls * 1000:.2f} ms of CPU per proxied call; load average {os.getloadavg()[0]:.2f}"
            )

        expected = (args.requests_c1 + args.warmup) + 32 * (args.requests_c32 + args.warmup)
        conn = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            charged = 0
            for _ in range(50):  # charges are written just after each answer: let the last ones land
                charged = await conn.fetchval("SELECT count(*) FROM credit_ledger WHERE reason = 'LLM_USAGE'")
                if charged >= expected:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        say(f"\ncheck: {charged} of {expected} proxied calls charged (one ledger row each)")
        ok = all(verdicts) and charged == expected
    finally:
        stop(serve)
        stop(standin)
        pg.stop()
        if args.keep or args.profile or not ok:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-c1", type=int, default=400, help="measured requests per path at concurrency 1")
    parser.add_argument("--requests-c32", type=int, default=40, help="measured requests per worker and path at 32")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per worker and path first")
    parser.add_argument("--users", type=int, default=32, help="users (tokens) the workers call as")
    parser.add_argument("--event-delay", type=float, default=0.002, help="seconds between the standin's events")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of serve (WARNING)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    parser.add_argument("--profile", action="store_true", help="run serve under cProfile (serve.prof, kept)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(run(args))
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
