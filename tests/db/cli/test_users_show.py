"""`yourclaw users show EMAIL`: what support sees about one user (subscription, credits in dollars, the
assistant and its host, connected services, today's counts), never a secret, a key's hint or a message's text,
the number masked; an unknown email is a clear error and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from tests.harness.database import truncate
from tests.harness.rows import make_user, subscribe
from tests.harness.settings import DEV_SECRET, PROJECT_ROOT
from yourclaw.cli.support import lines, user_view
from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.db.models import ApiKey, Assistant, HostServer, Message, UsageDaily, User, UserIntegration

pytestmark = pytest.mark.db

PHONE = "+41791234567"
EMAIL = "Support-Case@example.com"
KEY_HINT = "WXYZ"
BODY = "my secret plans for the weekend"


@pytest.fixture
async def user(sessions, engine):
    user_id = await make_user(sessions, PHONE, cents=1000)  # $10.00 granted
    await subscribe(sessions, user_id)
    async with transaction(sessions) as s:
        await s.execute(update(User).where(User.id == user_id).values(email=EMAIL, timezone="Europe/Zurich"))
        await credits_repo.charge(s, user_id, 1_234_567, reference="llm-1")  # $12.34567 of $10: none left
        host = HostServer(name="host-a", docker_url="tcp://10.0.0.9:2376")
        s.add(host)
        await s.flush()
        await s.execute(
            update(Assistant)
            .where(Assistant.user_id == user_id)
            .values(
                host_server_id=host.id,
                image="ghcr.io/yourclaw/openclaw:2026.9.6",
                last_poll_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
                last_error="the engine refused the start",
                workspace_bytes=3 * 1024 * 1024,
                workspace_limit_bytes=1024 * 1024 * 1024,
            )
        )
        s.add(ApiKey(user_id=user_id, encrypted_key="gAAAA-encrypted-key", key_hint=KEY_HINT))
        s.add(UserIntegration(user_id=user_id, service="GOOGLE_CALENDAR", access_token_encrypted="gAAAA-access-token"))
        s.add(UsageDaily(user_id=user_id, inbound_count=7, outbound_count=9, proactive_count=2, llm_millicents=45_000))
        s.add(Message(user_id=user_id, direction="INBOUND", body=BODY))
    yield user_id
    await truncate(engine)


async def test_the_view_has_what_support_needs_and_nothing_secret(sessions, user):
    async with sessions() as s:
        view = await user_view(s, "  support-case@EXAMPLE.com ")
        assert await user_view(s, "nobody@example.com") is None
    assert view["id"] == str(user) and view["timezone"] == "Europe/Zurich"
    assert view["phone"]["number"] == "+417******67" and view["phone"]["verified"]
    assert view["subscription"]["status"] == "ACTIVE" and view["subscription"]["current_period_end"]
    assert view["credits"] == {
        "left": "$0.00",
        "used": "$12.35",
        "total": "$10.00",
        "left_millicents": 0,
        "used_millicents": 1_234_567,
        "own_anthropic_key": True,
    }
    assistant = view["assistant"]
    assert assistant["host"] == "host-a" and assistant["phase"] == "ready"
    assert assistant["last_poll_at"] == "2026-12-07T12:00:00+00:00"
    assert assistant["last_error"] == "the engine refused the start"
    assert view["google_services"] == [{"service": "GOOGLE_CALENDAR", "status": "connected"}]
    assert view["today"]["inbound"] == 7 and view["today"]["outbound"] == 9 and view["today"]["llm"] == "$0.45"

    screen = "\n".join(lines(view))
    for line in ("credits       $0.00 left, $12.35 used of $10.00", "host          host-a", "workspace     3.0 MiB of"):
        assert line in screen, screen
    everything = screen + json.dumps(view)
    for secret in (PHONE, KEY_HINT, "gAAAA", BODY):
        assert secret not in everything


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "src"),
        "YOURCLAW_ENV": "development",
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DEV_JWT_SECRET": DEV_SECRET,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "yourclaw", "users", "show", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=60,
    )


async def test_the_command_prints_it_as_text_or_json_and_refuses_an_unknown_email(database_url, user):
    text = _run(database_url, EMAIL)
    assert text.returncode == 0, text.stderr
    assert "subscription  ACTIVE" in text.stdout and "+417******67" in text.stdout and PHONE not in text.stdout

    as_json = _run(database_url, EMAIL, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["assistant"]["host"] == "host-a"

    unknown = _run(database_url, "nobody@example.com")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.strip() == "yourclaw: no user with the email 'nobody@example.com'"
