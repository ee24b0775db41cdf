"""The "Memory" section's API on `yourclaw dev` (the stand-in runtime's volumes are directories): the memory files
written on the volume are shown after the reconciler reads them, and forgetting one, then everything, deletes
them from the volume and leaves the rest of the workspace."""

from __future__ import annotations

import httpx
import pytest

from tests.harness.dev_journey import Newcomer
from tests.harness.dev_server import running_dev_server
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.db

URL = "/api/v1/users/me/memory"
MEMORY = "# Memory\n\n- Prefers tea to coffee.\n"


@pytest.fixture
def dev(database_url):
    with running_dev_server(database_url, "memory") as server:
        yield server


async def _settled(client: httpx.AsyncClient) -> dict:
    async def done():
        view = (await client.get(URL)).json()
        return view if not view["pending"] else None

    return await wait_for(done, timeout=30, interval=0.2, message="the memory request done")


async def test_memory_is_shown_and_forgotten_on_the_local_runtime(dev):
    async with httpx.AsyncClient(base_url=dev.url, timeout=15) as client:
        owner = Newcomer(client, "remembered@example.com")
        await owner.sign_in()
        await owner.verify_and_pay()
        await owner.chat("hello")
        user_id = (await client.get("/api/v1/users/me")).json()["id"]
        (host,) = (dev.workdir / "state" / "simulated").iterdir()
        workspace = host / "volumes" / f"yourclaw-data-{user_id}" / "workspace"
        (workspace / "memory").mkdir(parents=True, exist_ok=True)
        (workspace / "MEMORY.md").write_text(MEMORY)
        (workspace / "memory" / "2026-12-07.md").write_text("Talked about tea.\n")

        await client.post(f"{URL}/refresh", headers=owner.headers)
        view = await _settled(client)
        assert [(f["path"], f["text"]) for f in view["files"]] == [
            ("MEMORY.md", MEMORY),
            ("memory/2026-12-07.md", "Talked about tea.\n"),
        ]

        one = await client.delete(URL, params={"path": "memory/2026-12-07.md"}, headers=owner.headers)
        assert one.status_code == 202, one.text
        assert [f["path"] for f in (await _settled(client))["files"]] == ["MEMORY.md"]
        assert not (workspace / "memory" / "2026-12-07.md").exists()

        everything = await client.delete(URL, params={"all": "true"}, headers=owner.headers)
        assert everything.status_code == 202, everything.text
        assert (await _settled(client))["files"] == []
        assert not (workspace / "MEMORY.md").exists() and not (workspace / "memory").exists()
        assert (workspace / "AGENTS.md").exists(), "the rest of the workspace stays"
