"""The user's own data on `yourclaw dev` (the API, the worker, the reconciler and the stand-in runtime in one child
process, the Stripe stand-in recording to its state file, volume backups into a real S3 API): the export carries
the messages and the assistant's memory files read off its volume; the deletion cancels the subscription, removes
the volume and every backup, leaves no row, and signing in again with the same email starts from nothing while
the old session stays ended."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import httpx
import pytest
from sqlalchemy import text

from tests.harness.dev_journey import PHONE, Newcomer
from tests.harness.dev_server import running_dev_server
from tests.harness.waiting import wait_for
from yourclaw.db.models import AccountDeletion
from yourclaw.userdata.repository import OWNED

pytestmark = pytest.mark.db

EMAIL = "data-owner@example.com"
MEMORY = "# Memory\n\n- Prefers tea to coffee.\n- Sister: Ines, birthday 3 March.\n"


@pytest.fixture
def dev(database_url, s3):
    with running_dev_server(database_url, "user-data", **s3.settings()) as server:
        yield server


def _volume(dev, user_id: str):
    (host,) = (dev.workdir / "state" / "simulated").iterdir()
    return host / "volumes" / f"yourclaw-data-{user_id}"


async def _export(client: httpx.AsyncClient) -> zipfile.ZipFile:
    async def ready():
        answer = await client.get("/api/v1/users/me/export")
        assert answer.status_code in (200, 202), answer.text
        return answer if answer.status_code == 200 else None

    answer = await wait_for(ready, timeout=30, interval=0.2, message="the export")
    assert answer.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(answer.content))


def _backups_of(s3, user_id: str) -> list[str]:
    return [key for key in s3.keys() if key.startswith(f"volumes/{user_id}/")]


async def _rows_naming(sessions, user_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    async with sessions() as session:
        for model in OWNED:
            column = "id" if model.__tablename__ == "users" else "user_id"
            counts[model.__tablename__] = await session.scalar(
                text(f"SELECT count(*) FROM {model.__tablename__} WHERE {column} = :u"), {"u": user_id}
            )
        for table, column in (
            ("inbound_messages", "from_phone"),
            ("outbox", "to_phone"),
            ("user_phones", "phone_e164"),
        ):
            counts[f"{table}.{column}"] = await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :p"), {"p": PHONE}
            )
    return {name: count for name, count in counts.items() if count}


async def test_export_then_delete_leaves_nothing(dev, sessions, s3):
    async with httpx.AsyncClient(base_url=dev.url, timeout=15) as client:
        owner = Newcomer(client, EMAIL)
        await owner.sign_in()
        await owner.verify_and_pay()
        await owner.chat("remember that I prefer tea")
        user_id = (await client.get("/api/v1/users/me")).json()["id"]
        # What the assistant remembered, where OpenClaw keeps it on the volume.
        workspace = _volume(dev, user_id) / "workspace"
        (workspace / "memory").mkdir(parents=True, exist_ok=True)
        (workspace / "MEMORY.md").write_text(MEMORY)
        (workspace / "memory" / "2026-12-07.md").write_text("Talked about tea.\n")

        first = await client.get("/api/v1/users/me/export")
        assert first.status_code == 202 and first.json()["status"] == "PENDING"
        archive = await _export(client)
        names = set(archive.namelist())
        assert {"README.txt", "profile.json", "messages.json", "usage.json"} <= names
        assert archive.read("workspace/MEMORY.md").decode() == MEMORY
        assert archive.read("workspace/memory/2026-12-07.md").decode() == "Talked about tea.\n"
        assert "workspace/AGENTS.md" in names  # the whole workspace, not only the memory
        messages = json.loads(archive.read("messages.json"))["messages"]
        assert any(m["body"] == "remember that I prefer tea" and m["direction"] == "INBOUND" for m in messages)
        profile = json.loads(archive.read("profile.json"))
        assert profile["users"][0]["email"] == EMAIL and profile["user_phones"][0]["phone_e164"] == PHONE
        assert json.loads(archive.read("usage.json"))["credit_ledger"], "the credits granted are in the usage"
        # Nothing of the volume but the workspace (openclaw.json holds the assistant's token), and no secret.
        everything = b"".join(archive.read(n) for n in names)
        assert not any(n.endswith("openclaw.json") for n in names)
        assert b"token_hash" not in everything and b"encrypted" not in everything

        # The reconciler has backed the volume up (the first backup is due once the assistant is placed).
        await wait_for(lambda: _backups_of(s3, user_id), timeout=30, interval=0.2, message="a backup of the volume")

        # Deleting needs the user's confirmation, and the session's CSRF token.
        unconfirmed = await client.delete("/api/v1/users/me", headers=owner.headers)
        assert unconfirmed.status_code == 400 and unconfirmed.json()["code"] == "CONFIRMATION_REQUIRED"
        no_csrf = await client.delete("/api/v1/users/me", params={"confirm": "DELETE"})
        assert no_csrf.status_code == 403
        old_cookies = dict(client.cookies)
        deleted = await client.delete("/api/v1/users/me", params={"confirm": "DELETE"}, headers=owner.headers)
        assert deleted.status_code == 204, deleted.text

        stripe_state = json.loads((dev.workdir / "state" / "stripe-fake.json").read_text())
        assert [s["status"] for s in stripe_state["subscriptions"].values()] == ["canceled"]
        assert await _rows_naming(sessions, uuid.UUID(user_id)) == {}

        async def purged() -> bool:
            async with sessions() as session:
                tombstone = await session.get(AccountDeletion, uuid.UUID(user_id))
            return not _volume(dev, user_id).exists() and tombstone is not None and tombstone.fleet_purged_at

        await wait_for(purged, timeout=30, interval=0.2, message="the volume removed")
        assert s3.keys() == [], "every backup of the account is gone from the bucket"

        # The old session is over, even once the same person signs up again.
        async with httpx.AsyncClient(base_url=dev.url, timeout=15, cookies=old_cookies) as stale:
            assert (await stale.get("/api/v1/users/me")).status_code == 401
            again = Newcomer(client, EMAIL)
            await again.sign_in()
            me = (await client.get("/api/v1/users/me")).json()
            assert me["id"] == user_id and me["phone"] is None and me["subscription"] is None
            assert (await client.get("/api/v1/assistants")).json()["status"] == "NONE"
            assert (await client.get("/api/v1/messages")).json()["messages"] == []
            assert (await stale.get("/api/v1/users/me")).status_code == 401
