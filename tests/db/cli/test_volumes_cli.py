"""`yourclaw hosts evacuate` and `yourclaw backups` as an operator runs them (real processes on the test
database): what they write for the reconciler, and what they say when the ask makes no sense."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.harness.database import truncate
from tests.harness.settings import DEV_SECRET
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, BackupRestore, HostServer, User, VolumeBackup
from yourclaw.llm import catalog

pytestmark = pytest.mark.db


@pytest.fixture
async def operator(database_url, sessions, engine):
    env = {
        "PATH": "/usr/bin:/bin",
        "YOURCLAW_ENV": "development",
        "DATABASE_URL": database_url,
        "DEV_JWT_SECRET": DEV_SECRET,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
    }

    def yourclaw(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "yourclaw", *words], capture_output=True, text=True, env=env, timeout=60
        )

    yield yourclaw
    await truncate(engine)


async def test_evacuate_asks_the_reconciler_to_move_everyone_and_drains_the_host(operator, sessions):
    async with transaction(sessions) as session:
        host = HostServer(name="old", docker_url="tcp://old.invalid:2376")
        session.add_all([host, HostServer(name="new", docker_url="tcp://new.invalid:2376")])
        user = User(id=uuid.uuid4(), email="moving@example.com")
        session.add(user)
        await session.flush()
        session.add(Assistant(user_id=user.id, model=catalog.DEFAULT_MODEL, host_server_id=host.id, status="READY"))

    refused = operator("hosts", "evacuate", "nowhere")
    assert refused.returncode == 2 and "no host named nowhere" in refused.stderr
    refused = operator("hosts", "evacuate", "old", "--to", "old")
    assert refused.returncode == 2 and "another host" in refused.stderr

    asked = operator("hosts", "evacuate", "old", "--to", "new", "--no-wait")
    assert asked.returncode == 0, asked.stderr
    assert "moving 1 assistant(s) to new" in asked.stdout
    async with sessions() as session:
        row = await session.scalar(select(Assistant))
        target = await session.scalar(select(HostServer).where(HostServer.name == "new"))
        assert row.move_requested_at is not None and row.move_to_host_id == target.id
        assert (await session.scalar(select(HostServer).where(HostServer.name == "old"))).draining


async def test_backups_are_listed_and_a_restore_is_asked_for(operator, sessions):
    async with transaction(sessions) as session:
        user = User(id=uuid.uuid4(), email="restoring@example.com")
        session.add_all([user, User(id=uuid.uuid4(), email="nobackup@example.com")])
        await session.flush()
        backup = VolumeBackup(user_id=user.id, object_key=f"volumes/{user.id}/x.tar", size_bytes=2048)
        session.add(backup)

    listed = operator("backups", "list", "restoring@example.com")
    assert listed.returncode == 0 and str(backup.id) in listed.stdout and "2048 bytes" in listed.stdout
    assert operator("backups", "list", "nobackup@example.com").stdout.strip() == "no backups"
    assert operator("backups", "list", "nobody@example.com").returncode == 2

    none = operator("backups", "restore", "nobackup@example.com")
    assert none.returncode == 2 and "no backup yet" in none.stderr
    # No reconciler runs here: the ask is written, and the command gives up watching at its timeout.
    asked = operator("backups", "restore", str(user.id), "--timeout", "0")
    assert asked.returncode == 1 and f"restoring backup {backup.id}" in asked.stdout
    async with sessions() as session:
        restore = await session.scalar(select(BackupRestore))
    assert (restore.user_id, restore.backup_id, restore.status) == (user.id, backup.id, "PENDING")
