"""LLM proxy benchmark: what the metering proxy adds to time to first byte and to total time.

    cd /work/main && uv run python bench/llm_proxy.py [--help]

It starts an embedded PostgreSQL, the local Anthropic standin (`python -m yourclaw.standins.anthropic`, its own
process) and `yourclaw serve --migrate` (a subprocess) with ANTHROPIC_BASE_URL pointing at the standin. Users with
assistants, proxy tokens and credit are inserted directly. Then, at concurrency 1 and 32, each worker sends
streaming `POST /v1/messages` requests alternately straight to the standin and through the proxy
(`/llm/anthropic/v1/messages` with the assistant token as x-api-key), one keep-alive connection per worker and
path, so both paths run under the same load in the same run. The load generator is a small HTTP/1.1 client of
its own (`_llm_proxy/client.py`): httpx, then aiohttp, spent as much CPU per call as the proxy did, and on a
small machine the figures then measured the generator.
Measured per request: time to the first body byte and to the end of the stream. Added time = proxy percentile
minus direct percentile (every proxied call holds its worst case against the credits before it is forwarded).
Every proxied call is then checked to have been charged (one ledger row each). Then the overdraft phase
(`_llm_proxy/overdraft.py`): maximum-size calls against one millicent, and random concurrent calls against a
small allowance. Per phase it prints the CPU each process took (the load generator, serve, PostgreSQL, the
stand-in) and what the rest of the machine used: on a small machine they share its cores, and what serve gets
of them moves the c=32 figure. Everything started is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# bench/ is on sys.path as the script's own directory.
from _common.cpu import CpuMeter, GcPauses  # noqa: E402
from _common.database import sql  # noqa: E402
from _common.processes import (  # noqa: E402
    Procs,
    clean_leftovers,
    interrupt_on_sigterm,
    postmaster_pid,
    process_groups,
    wait_http,
)
from _common.product_env import inherited_env, product_env  # noqa: E402
from _common.report import machine_summary, say, verdict  # noqa: E402
from _common.stats import pct  # noqa: E402
from _llm_proxy.client import Connection, build_request  # noqa: E402
from _llm_proxy.overdraft import ALLOWANCE, run_overdraft  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.rows import make_assistant  # noqa: E402

from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402

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


async def seed(dsn: str, encryption_key: str, credits: list[int]) -> list[tuple[str, str]]:
    """A user with a READY assistant and a proxy token per entry of `credits` (millicents): (user id, token)."""
    engine = make_engine(dsn, pool_size=2)
    sessions = make_sessionmaker(engine)
    box = SecretBox([encryption_key])
    try:
        made = [await make_assistant(sessions, box, millicents=amount) for amount in credits]
        return [(str(user_id), token) for user_id, _, token in made]
    finally:
        await engine.dispose()


async def phase(
    standin_url: str, api_url: str, tokens_: list[str], concurrency: int, per_worker: int, warmup: int
) -> dict[str, tuple[list[float], list[float]]]:
    body = json.dumps(BODY).encode()
    results: dict[str, tuple[list[float], list[float]]] = {"direct": ([], []), "proxy": ([], [])}
    base = {"anthropic-version": "2023-06-01", "content-type": "application/json"}

    def endpoint(url: str, path: str, key: str) -> tuple[str, int, bytes]:
        host, port = url.removeprefix("http://").split(":")
        return host, int(port), build_request(path, f"{host}:{port}", {**base, "x-api-key": key}, body)

    async def worker(n: int) -> None:
        paths = {
            "direct": endpoint(standin_url, "/v1/messages", SHARED_KEY),
            "proxy": endpoint(api_url, "/llm/anthropic/v1/messages", tokens_[n % len(tokens_)]),
        }
        connections = {name: Connection(host, port) for name, (host, port, _) in paths.items()}
        try:
            for i in range(warmup + per_worker):
                # Alternate, starting on a different path per worker: both see the same load.
                order = ("direct", "proxy") if (i + n) % 2 == 0 else ("proxy", "direct")
                for name in order:
                    ttfb, total = await connections[name].post(paths[name][2])
                    if i >= warmup:
                        results[name][0].append(ttfb)
                        results[name][1].append(total)
        finally:
            for connection in connections.values():
                connection.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return results


def report(concurrency: int, results: dict[str, tuple[list[float], list[float]]]) -> bool:
    def ms(v: float) -> str:  # the header says (ms)
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
        f"(target ≤ {TARGET_P99_MS:g}): {verdict(ok)}"
    )
    return ok


async def run(args: argparse.Namespace) -> int:
    clean_leftovers(TMP_PREFIX)
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    procs = Procs(workdir)
    pg = EmbeddedPostgres(workdir / "pg")
    ok = False
    try:
        dsn = pg.start()
        standin_port, api_port = free_port(), free_port()
        standin_url, api_url = f"http://127.0.0.1:{standin_port}", f"http://127.0.0.1:{api_port}"
        usage = '{"input_tokens": 1200, "cache_read_input_tokens": 3000, "output_tokens": 40}'
        standin_log = workdir / "standin.log"
        standin = procs.start(
            "standin",
            [sys.executable, "-m", "yourclaw.standins.anthropic", "--port", str(standin_port)]
            + ["--event-delay", str(args.event_delay), "--reply", REPLY, "--usage", usage],
            inherited_env(),
            log=standin_log,
        )
        env = product_env(
            workdir,
            dsn,
            api_url,
            args.log_level,
            ANTHROPIC_API_KEY=SHARED_KEY,
            ANTHROPIC_BASE_URL=standin_url,
            MOCK_TWILIO="true",
            # The overdraft phase sends its whole burst at once for one user: all of it may be in flight.
            LLM_MAX_CALLS_IN_FLIGHT=str(args.burst),
        )
        serve_log = workdir / "serve.log"
        serve = procs.start(
            "serve",
            [sys.executable, *(["-m", "cProfile", "-o", str(workdir / "serve.prof")] if args.profile else [])]
            + ["-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--migrate"],
            env,
            log=serve_log,
        )
        await wait_http(standin_url + "/v1/models", standin, "the Anthropic standin", log=standin_log)
        await wait_http(api_url + "/api/v1/health", serve, "yourclaw serve", log=serve_log)
        tokens_ = [token for _, token in await seed(dsn, env["ENCRYPTION_KEY"], [10**12] * args.users)]
        say(machine_summary())
        say(
            f"upstream: the Anthropic stand-in in its own process, {args.event_delay * 1000:g} ms between events; "
            f"serve: uvicorn, one process, LOG_LEVEL={args.log_level}; {args.users} users"
        )
        pg_pid = postmaster_pid(workdir / "pg")
        cpu = CpuMeter(lambda: process_groups(procs, serve.pid, pg_pid), own="load generator", gc_pauses=GcPauses())
        verdicts = []
        for concurrency, per_worker in ((1, args.requests_c1), (32, args.requests_c32)):
            with cpu.phase(f"c={concurrency}"):
                results = await phase(standin_url, api_url, tokens_, concurrency, per_worker, args.warmup)
            verdicts.append(report(concurrency, results))
            used = cpu.last().groups
            calls = concurrency * (per_worker + args.warmup)
            say(
                "CPU per proxied call (each also made one direct call): "
                + ", ".join(f"{name} {seconds / calls * 1000:.2f} ms" for name, seconds in used.items())
                + f"; load average {os.getloadavg()[0]:.2f}"
            )
        say("")
        cpu.print_cores()

        expected = (args.requests_c1 + args.warmup) + 32 * (args.requests_c32 + args.warmup)
        charged = await charged_calls(dsn, expected)
        say(f"\ncheck: {charged} of {expected} proxied calls charged (one ledger row each)")
        poor, funded = await seed(dsn, env["ENCRYPTION_KEY"], [1, ALLOWANCE])
        safe = await run_overdraft(dsn, api_url, poor, funded, args.burst)
        ok = all(verdicts) and charged == expected and safe
    finally:
        procs.stop(["serve"])
        procs.stop()
        pg.stop()
        if args.keep or args.profile or not ok:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


async def charged_calls(dsn: str, expected: int) -> int:
    """LLM_USAGE rows in the ledger. Charges are written just after each answer: the last ones get 5 s."""
    charged = 0
    for _ in range(50):
        ((row,),) = await sql(dsn, "SELECT count(*) AS n FROM credit_ledger WHERE reason = 'LLM_USAGE'")
        charged = row["n"]
        if charged >= expected:
            break
        await asyncio.sleep(0.1)
    return charged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-c1", type=int, default=400, help="measured requests per path at concurrency 1")
    parser.add_argument("--requests-c32", type=int, default=40, help="measured requests per worker and path at 32")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per worker and path first")
    parser.add_argument("--users", type=int, default=32, help="users (tokens) the workers call as")
    parser.add_argument("--burst", type=int, default=32, help="concurrent calls in the overdraft phase")
    parser.add_argument("--event-delay", type=float, default=0.002, help="seconds between the standin's events")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of serve (WARNING)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    parser.add_argument("--profile", action="store_true", help="run serve under cProfile (serve.prof, kept)")
    args = parser.parse_args()
    interrupt_on_sigterm()
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(run(args))
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
