"""MCP benchmark: the time our MCP server (`/mcp/google`) adds to a Google tool call, versus calling the Google
stand-in's API directly.

    cd /work/main && uv run python bench/mcp_google.py [--help]

It starts an embedded PostgreSQL, the Google stand-in (in this process) and `yourclaw serve --migrate` (a
subprocess) pointed at it. A user with a READY assistant and its token is inserted directly; Calendar is connected
through the API and the stand-in's consent (as "Allow" would). Then, one keep-alive connection per path,
alternating, it sends `calendar_list_events`: straight to the stand-in (`GET /calendar/v3/calendars/primary/events`
with the Google access token) and through our MCP server (a JSON-RPC `tools/call` POST with the assistant token,
stateless streamable HTTP with a JSON answer). Our path adds: the assistant token's lookup (remembered after the
first call), the per-user rate limit and the user's fresh access token (one statement, decrypted), the call
itself, and the audit row. Added time = MCP percentile
minus direct percentile. Target: p50 ≤ 5 ms. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

# bench/ is on sys.path as the script's own directory.
from _common.processes import Procs, clean_leftovers, run_interruptibly, wait_http  # noqa: E402
from _common.product_env import product_env  # noqa: E402
from _common.report import machine_summary, say, verdict  # noqa: E402
from _common.stats import pct  # noqa: E402
from tests.harness.google import connect  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.rows import make_assistant  # noqa: E402

from yourclaw.accounts.jwt_verifier import issue_dev_token  # noqa: E402
from yourclaw.db.embedded import EmbeddedPostgres  # noqa: E402
from yourclaw.db.engine import make_engine, make_sessionmaker  # noqa: E402
from yourclaw.kit.crypto import SecretBox  # noqa: E402
from yourclaw.standins.google import GoogleStandin  # noqa: E402

TMP_PREFIX = "yourclaw-bench-mcp-"
TARGET_P50_MS = 5.0
EVENT = "Dentist appointment"


async def seed(dsn: str, encryption_key: str) -> tuple[str, str]:
    engine = make_engine(dsn, pool_size=2)
    try:
        user_id, _, token = await make_assistant(make_sessionmaker(engine), SecretBox([encryption_key]))
        return str(user_id), token
    finally:
        await engine.dispose()


async def measure(api_url: str, google: GoogleStandin, token: str, access: str, n: int, warmup: int) -> dict:
    direct_url = google.base_url + "/calendar/v3/calendars/primary/events"
    direct_params = {"singleEvents": "true", "orderBy": "startTime", "maxResults": "25"}
    mcp_url = api_url + "/mcp/google"
    mcp_headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    times: dict[str, list[float]] = {"direct": [], "mcp": []}

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=30))

    async with session() as direct, session() as mcp:

        async def call_direct() -> None:
            async with direct.get(direct_url, params=direct_params, headers={"Authorization": f"Bearer {access}"}) as r:
                body = await r.text()
            assert r.status == 200 and EVENT in body, (r.status, body[:200])

        async def call_mcp(i: int) -> None:
            payload = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "calendar_list_events", "arguments": {}},
            }
            async with mcp.post(mcp_url, data=json.dumps(payload), headers=mcp_headers) as r:
                body = await r.text()
            assert r.status == 200 and EVENT in body, (r.status, body[:300])

        for i in range(warmup + n):
            order = ("direct", "mcp") if i % 2 == 0 else ("mcp", "direct")
            for name in order:
                began = time.perf_counter()
                await (call_direct() if name == "direct" else call_mcp(i))
                if i >= warmup:
                    times[name].append(time.perf_counter() - began)
    return times


async def run(args: argparse.Namespace) -> int:
    clean_leftovers(TMP_PREFIX)
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    procs = Procs(workdir)
    pg = EmbeddedPostgres(workdir / "pg")
    google = GoogleStandin()
    ok = False
    try:
        dsn = pg.start()
        google.start()
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        env = product_env(
            workdir, dsn, api_url, args.log_level,
            GOOGLE_CLIENT_ID=google.client_id, GOOGLE_CLIENT_SECRET=google.client_secret,
            GOOGLE_AUTH_BASE_URL=google.base_url, GOOGLE_TOKEN_BASE_URL=google.base_url,
            GOOGLE_API_BASE_URL=google.base_url, GOOGLE_TOOL_CALLS_PER_MINUTE=str(10**9),
        )  # fmt: skip
        serve_log = workdir / "serve.log"
        serve = procs.start(
            "serve",
            [sys.executable, "-m", "yourclaw", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--migrate"],
            env,
            log=serve_log,
        )
        await wait_http(api_url + "/api/v1/health", serve, "yourclaw serve", log=serve_log)
        user_id, token = await seed(dsn, env["ENCRYPTION_KEY"])
        signed_in = issue_dev_token(
            env["DEV_JWT_SECRET"],
            sub=user_id,
            email="bench@example.com",
            issuer=f"{api_url}/dev-auth",
            ttl_seconds=3600,
        )
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            done = await connect(http, {"Authorization": f"Bearer {signed_in}"}, "calendar")
            assert done.status_code == 302, done.text
        access = [t for t in google.issued if t.startswith("ya29.")][-1]
        say(machine_summary())
        times = await measure(api_url, google, token, access, args.requests, args.warmup)
        rows = {name: (pct(v, 0.5), pct(v, 0.99)) for name, v in times.items()}
        say(f"\n{'path':<8} {'n':>6} {'p50':>8} {'p99':>8}   (ms)")
        for name, (p50, p99) in rows.items():
            say(f"{name:<8} {len(times[name]):>6} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f}")
        added50 = (rows["mcp"][0] - rows["direct"][0]) * 1000
        added99 = (rows["mcp"][1] - rows["direct"][1]) * 1000
        say(f"{'added':<8} {'':>6} {added50:>8.2f} {added99:>8.2f}")
        ok = added50 <= TARGET_P50_MS
        say(
            f"time our MCP server adds to a tool call: p50 {added50:.2f} ms (target ≤ {TARGET_P50_MS:g}): {verdict(ok)}"
        )
    finally:
        procs.stop(["serve"])
        procs.stop()
        google.stop()
        pg.stop()
        if args.keep or not ok:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="measured calls per path")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls per path first")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of serve (WARNING)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    args = parser.parse_args()
    return run_interruptibly(run(args))


if __name__ == "__main__":
    sys.exit(main())
