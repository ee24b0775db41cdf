"""The `yourclaw` command as a newcomer and an operator meet it: real processes, real ports."""

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
from tests.harness.settings import PROJECT_ROOT

pytestmark = pytest.mark.db
YOURCLAW = [sys.executable, "-m", "yourclaw"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_", "SUPABASE_", "YOURCLAW_", "TWILIO_"))}
    for name in ("DATABASE_URL", "ENCRYPTION_KEY", "DEV_JWT_SECRET", "STRIPE_SECRET_KEY", "API_URL", "APP_URL"):
        env.pop(name, None)
    env.update(extra)
    return env


def test_help_reads_well():
    out = subprocess.run([*YOURCLAW, "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("yourclaw dev", "serve", "db upgrade", "keys rotate"):
        assert word in out


def test_missing_setting_stops_start_up_with_one_line(tmp_path):
    result = subprocess.run(
        [*YOURCLAW, "serve"], capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == result.stderr.strip().splitlines()[-1]  # one line
    assert "ENCRYPTION_KEY" in result.stderr


def test_serve_refuses_dev_modes_in_production(tmp_path):
    env = _clean_env(
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        SUPABASE_URL="https://abc.supabase.co",
        DATABASE_URL="postgresql://u@127.0.0.1:1/db",
        MOCK_TWILIO="true",
    )
    result = subprocess.run([*YOURCLAW, "serve"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "MOCK_TWILIO" in result.stderr
    assert "YOURCLAW_ENV=development" in result.stderr


def test_dev_runs_the_product_on_embedded_defaults_and_stops_cleanly(tmp_path):
    port = free_port()
    env = _clean_env(PYTHONPATH=str(PROJECT_ROOT / "src"))
    process = subprocess.Popen(
        [*YOURCLAW, "dev", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "yourclaw dev did not serve /api/v1/health in 60 s"
            time.sleep(0.2)

        token = httpx.post(f"{base}/api/v1/dev/login", json={"email": "new@example.com"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        phone = httpx.post(f"{base}/api/v1/users/me/phone", json={"phone": "+14155552671"}, headers=headers)
        assert phone.status_code == 200 and phone.json()["verification"]["link"].startswith("https://wa.me/")
        assert httpx.get(f"{base}/api/v1/users/me", headers=headers).json()["phone"]["phone"] == "+14155552671"
        secrets_file = tmp_path / ".yourclaw" / "dev-secrets.json"
        assert secrets_file.stat().st_mode & 0o777 == 0o600

        # A user of the local product on WhatsApp: signed webhooks through the real pipeline, the simulated
        # runtime's assistant answering, the local Twilio stand-in recording what would be sent.
        def say(*words: str) -> list[str]:
            result = subprocess.run(
                [*YOURCLAW, "say", "--port", str(port), "--wait", "20", *words],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            return [line[2:] for line in result.stdout.splitlines() if line.startswith("< ")]

        code = phone.json()["verification"]["code"]
        assert any("linked" in reply.lower() for reply in say("link", code))
        # Paying on the local Stripe stand-in's checkout page (its form, as a browser posts it) starts
        # the assistant with no further click.
        checkout = httpx.post(f"{base}/api/v1/checkout", headers=headers)
        assert checkout.status_code == 200, checkout.text
        paid = httpx.post(checkout.json()["checkout_url"] + "/pay")
        assert paid.status_code == 303 and paid.headers["location"].startswith(f"{base}/dashboard?session_id=cs_")
        assert httpx.get(f"{base}/api/v1/subscription", headers=headers).json()["status"] == "ACTIVE"
        assert httpx.get(f"{base}/api/v1/assistants", headers=headers).json()["status"] != "NONE"
        assert httpx.post(f"{base}/api/v1/assistants", headers=headers).status_code == 202
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/api/v1/assistants", headers=headers).json()["status"] != "READY":
            assert time.monotonic() < deadline, "the assistant did not become READY"
            time.sleep(0.2)
        # The local assistant answers through the metering proxy and its stand-in model: credits are spent.
        assert say("hello", "there") == ["(stand-in model) You said: hello there"]
        credits = httpx.get(f"{base}/api/v1/subscription", headers=headers).json()
        assert 0 < credits["credits_remaining_cents"] < credits["credits_total_cents"]
        assert say("--replies", "2", "proactive", "2", "stretch", "your", "legs") == ["ok, in 2s", "stretch your legs"]
        conversation = httpx.get(f"{base}/api/v1/messages", headers=headers).json()
        bodies = [m["body"] for m in conversation["messages"]]
        assert "hello there" in bodies and "stretch your legs" in bodies
    finally:
        # Twice, a moment apart: what one Ctrl-C in a terminal does through `uv run` (the process group
        # gets it, and uv forwards its own). That is one request to stop, and the shutdown runs in full.
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the stimulus, not a wait: uv's copy comes a moment after the original
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    assert f"open http://127.0.0.1:{port}" in output
    assert "MOCK_TWILIO=true" in output and "MOCK_STRIPE=true" in output
    assert not (tmp_path / ".yourclaw" / "pg" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
