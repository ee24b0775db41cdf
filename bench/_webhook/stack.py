"""What both parts run against: the embedded PostgreSQL, `yourclaw serve`, the Twilio stand-in and the
processes started so far; the environment `serve` and `worker` get; the process groups CPU is counted for;
and the warnings their logs hold."""

from __future__ import annotations

import json
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common.processes import Procs, alive, stop_pid
from _common.product_env import product_env

from _webhook.signed_requests import TWILIO_NUMBER
from _webhook.timed_standins import TimedTwilio
from yourclaw.db.embedded import EmbeddedPostgres
from yourclaw.standins import assistant as standin_assistant

STANDIN = Path(standin_assistant.__file__)  # run as a script, as in its container
LEASE_SECONDS = 60  # the default; the hand-out moment is read back as lease_until - this


@dataclass
class Stack:
    workdir: Path
    dsn: str
    port: int
    api_url: str
    env: dict[str, str]
    standin: TimedTwilio
    procs: Procs
    pg_pid: int | None


def stack_env(workdir: Path, dsn: str, api_url: str, standin: TimedTwilio, log_level: str) -> dict[str, str]:
    return product_env(
        workdir,
        dsn,
        api_url,
        log_level,
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


def stop_everything(procs: Procs, standin: TimedTwilio, pg: EmbeddedPostgres, pg_pid: int | None) -> None:
    """In the order they depend on each other: the assistants poll `serve`, the worker writes to PostgreSQL."""
    procs.stop([n for n in procs.children if n.startswith("standin")])
    procs.stop(["worker"])
    procs.stop(["serve"])
    procs.stop()
    standin.stop()
    pg.stop()
    if pg_pid is not None and alive(pg_pid):
        stop_pid(pg_pid, sig=signal.SIGINT, wait=15)  # SIGINT: PostgreSQL's fast shutdown
