"""`yourclaw certs` and `yourclaw hosts` as an operator uses them, against a real engine over mTLS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.harness.database import truncate
from tests.harness.ports import free_port

pytestmark = pytest.mark.engine


@pytest.fixture
def operator(engines, database_url, engine):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_", "SUPABASE_", "YOURCLAW_"))}
    env.update(
        DATABASE_URL=database_url,
        DOCKER_TLS_DIR=str(engines.tls_dir),
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEV_JWT_SECRET="d" * 40,
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "yourclaw", *args], capture_output=True, text=True, env=env, timeout=120
        )

    yield run
    import asyncio

    asyncio.run(_truncate_with_new_loop(database_url))


async def _truncate_with_new_loop(database_url):
    from yourclaw.db.engine import make_engine

    engine = make_engine(database_url, pool_size=1)
    try:
        await truncate(engine)
    finally:
        await engine.dispose()


def test_hosts_add_checks_the_engine_then_list_and_drain(operator, engines):
    added = operator("hosts", "add", "edge-1", "--docker-url", engines.e1.docker_url, "--max-containers", "30")
    assert added.returncode == 0, added.stderr
    assert "added host edge-1: Docker 20.10" in added.stdout or "added host edge-1: Docker" in added.stdout

    again = operator("hosts", "add", "edge-1", "--docker-url", engines.e1.docker_url)
    assert again.returncode == 2 and "already" in again.stderr

    nobody = operator("hosts", "add", "edge-2", "--docker-url", f"tcp://127.0.0.1:{free_port()}")
    assert nobody.returncode == 2 and "did not answer over mutual TLS" in nobody.stderr

    bad = operator("hosts", "add", "edge-3", "--docker-url", "http://127.0.0.1:2376")
    assert bad.returncode == 2 and "tcp://" in bad.stderr

    listed = operator("hosts", "list")
    assert "edge-1" in listed.stdout and "0/30" in listed.stdout and "reachable" in listed.stdout
    assert "edge-2" not in listed.stdout

    assert operator("hosts", "drain", "edge-1").returncode == 0
    assert "draining" in operator("hosts", "list").stdout
    missing = operator("hosts", "drain", "nope")
    assert missing.returncode == 2 and "no host named nope" in missing.stderr


def test_certs_host_prints_the_dockerd_settings(operator, engines):
    result = operator("certs", "host", "edge-9", "--ip", "203.0.113.7", "--dns", "edge-9.example.net")
    assert result.returncode == 0, result.stderr
    for needle in ("--tlsverify", "tlscacert", "2376", "daemon.json"):
        assert needle in result.stdout
    key = engines.tls_dir / "hosts" / "edge-9" / "server-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert operator("certs", "host", "bad name!", "--ip", "203.0.113.7").returncode == 2
