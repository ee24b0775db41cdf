"""A host that does not answer is written down once, not on every pass: each write ends an applier task, and
each finished task wakes the next pass at once, so a write per pass made passes run back to back (dozens a
second) for as long as the host was down."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.runtime import StandinHost, ensure_standin_host

pytestmark = pytest.mark.db


class SwitchedOff(StandinHost):
    down = False

    def list_containers(self):
        if self.down:
            raise ConnectionRefusedError("connection refused")
        return super().list_containers()


async def test_a_down_host_costs_one_write_then_passes_with_nothing_to_do(database_url, sessions, db, tmp_path):
    settings = make_settings(
        database_url, MOCK_CONTAINERS="true", YOURCLAW_STATE_DIR=str(tmp_path), HOST_FAILURE_THRESHOLD="2"
    )
    box = SecretBox(settings.fernet_keys)
    async with transaction(sessions) as session:
        await ensure_standin_host(session)
    _, assistant_id, _ = await make_assistant(sessions, box, status="PROVISIONING", phase="placing")
    host = SwitchedOff("simulated", tmp_path / "simulated")
    reconciler = Reconciler(settings, sessions, box, lambda row: host)
    try:
        await reconciler.run_pass()
        await reconciler.settle(10)
        async with sessions() as session:
            assert (await session.get(Assistant, assistant_id)).host_server_id is not None
        host.down = True
        reports = []
        for _ in range(6):
            reports.append(await reconciler.run_pass())
            await reconciler.settle(10)
        assert all(r.unreachable == ["simulated"] for r in reports)
        async with sessions() as session:
            row = await session.scalar(select(Assistant).where(Assistant.id == assistant_id))
        assert (row.phase, row.phase_reason) == ("unknown", "its host is not answering")
        written = [r for r in reports if r.actions]
        assert len(written) == 1 and reports[-1].actions == []  # marked once, then nothing to do
    finally:
        reconciler.close()
