"""`yourclaw reconcile` and `yourclaw worker` answer /metrics on METRICS_PORT (behind METRICS_TOKEN): real
processes on the tests' PostgreSQL, each stopped by its own pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.harness.ports import free_port
from tests.harness.scrape import parse, value
from tests.harness.settings import PROJECT_ROOT

pytestmark = pytest.mark.db

TOKEN = "daemon-metrics-token"


def _daemon(command: str, database_url: str, port: int, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_", "SUPABASE_", "YOURCLAW_", "TWILIO_"))}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT / "src"),
        YOURCLAW_ENV="development",  # no Twilio or Stripe credentials here
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEV_JWT_SECRET="x" * 32,
        METRICS_PORT=str(port),
        METRICS_TOKEN=TOKEN,
        METRICS_SAMPLE_SECONDS="0.2",
        RECONCILE_INTERVAL="0.2",
        YOURCLAW_STATE_DIR=str(tmp_path / "state"),
    )
    log = (tmp_path / f"{command}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "yourclaw", command], cwd=tmp_path, env=env, stdout=log, stderr=log)


def _scrape_until(process: subprocess.Popen, url: str, ready, tmp_path, command: str):
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / f"{command}.log").read_text()
        try:
            answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
            if answer.status_code == 200 and ready(samples := parse(answer.text)):
                return samples
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{command}'s /metrics did not show it working in 60 s"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("command", "family"),
    [("reconcile", "yourclaw_reconcile_pass_seconds_count"), ("worker", "yourclaw_inbound_queue_depth")],
)
def test_a_daemon_serves_its_metrics_behind_the_token(command, family, database_url, tmp_path):
    port = free_port()
    process = _daemon(command, database_url, port, tmp_path)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        samples = _scrape_until(process, url, lambda s: any(name == family for name, _ in s), tmp_path, command)
        assert value(samples, "process_resident_memory_bytes") > 0
        assert httpx.get(url, timeout=2).status_code == 401
        assert (
            httpx.get(f"http://127.0.0.1:{port}/other", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0, (tmp_path / f"{command}.log").read_text()
