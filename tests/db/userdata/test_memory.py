"""`/users/me/memory`: the newest snapshot of the assistant's memory files and its age, reads and forgets as
requests the reconciler does (`runtime.memory`), every query the signed-in user's own, and the limits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.harness.rows import signed_up
from yourclaw.db.engine import transaction
from yourclaw.db.models import MemoryRequest
from yourclaw.runtime import memory
from yourclaw.userdata.memory_controller import MAX_PENDING

pytestmark = pytest.mark.db

URL = "/api/v1/users/me/memory"
FILES = [
    {"path": "MEMORY.md", "text": "# Memory\n- Prefers tea.\n", "bytes": 24, "truncated": False},
    {"path": "memory/2026-12-07.md", "text": "Talked about tea.\n", "bytes": 18, "truncated": False},
]


async def _snapshot(sessions, user_id, files=FILES, total=None) -> None:
    async with transaction(sessions) as s:
        s.add(
            MemoryRequest(
                user_id=user_id,
                action="READ",
                status="DONE",
                finished_at=func.now(),
                files=files,
                files_total=len(files) if total is None else total,
            )
        )


async def test_the_first_look_asks_for_a_read_which_the_reconciler_does(client, sessions, settings):
    headers, user_id = await signed_up(client)
    first = await client.get(URL, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["taken_at"] is None and body["files"] == [] and [p["action"] for p in body["pending"]] == ["READ"]
    assert body["max_files"] == settings.memory_max_files and body["max_bytes"] == settings.memory_snapshot_max_bytes
    # Looking again does not ask again.
    assert len((await client.get(URL, headers=headers)).json()["pending"]) == 1

    # No assistant was ever placed: nothing remembered, and the read is done without a host.
    assert await memory.fulfil_memory_requests(settings, sessions, {}) == 1
    done = (await client.get(URL, headers=headers)).json()
    assert done["pending"] == [] and done["files"] == [] and done["taken_at"] is not None
    assert 0 <= done["age_seconds"] < 60


async def test_each_user_sees_and_forgets_only_their_own(client, sessions, settings):
    headers, user_id = await signed_up(client)
    other_headers, other_id = await signed_up(client)
    await _snapshot(sessions, user_id)
    await _snapshot(sessions, other_id, files=[])

    mine = (await client.get(URL, headers=headers)).json()
    assert mine["files"] == FILES and mine["files_total"] == 2 and mine["pending"] == []
    theirs = (await client.get(URL, headers=other_headers)).json()
    assert theirs["files"] == [] and theirs["pending"] == []

    # B cannot name A's file: B's own snapshot, which is complete, does not list it.
    refused = await client.delete(URL, params={"path": "MEMORY.md"}, headers=other_headers)
    assert refused.status_code == 404 and refused.json()["code"] == "MEMORY_FILE_NOT_FOUND"

    forget = await client.delete(URL, params={"path": "memory/2026-12-07.md"}, headers=headers)
    assert forget.status_code == 202, forget.text
    assert forget.json()["pending"][0] == {
        "action": "FORGET",
        "path": "memory/2026-12-07.md",
        "requested_at": forget.json()["pending"][0]["requested_at"],
    }
    async with sessions() as s:
        owners = (await s.scalars(select(MemoryRequest.user_id).where(MemoryRequest.status == "PENDING"))).all()
    assert owners == [user_id]
    assert (await client.get(URL, headers=other_headers)).json()["pending"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MEMORY_TARGET_REQUIRED"),
        ({"path": "MEMORY.md", "all": "true"}, "MEMORY_TARGET_REQUIRED"),
        ({"path": "../openclaw.json"}, "INVALID_MEMORY_PATH"),
        ({"path": "openclaw.json"}, "INVALID_MEMORY_PATH"),
        ({"path": "AGENTS.md"}, "INVALID_MEMORY_PATH"),
        ({"path": "memory/../../openclaw.json"}, "INVALID_MEMORY_PATH"),
        ({"path": "memory/.dreams/recall.md"}, "INVALID_MEMORY_PATH"),
        ({"path": "/workspace/MEMORY.md"}, "INVALID_MEMORY_PATH"),
    ],
)
async def test_a_forget_names_one_memory_file_or_all(client, params, code):
    headers, _ = await signed_up(client)
    answer = await client.delete(URL, params=params, headers=headers)
    assert answer.status_code == 400 and answer.json()["code"] == code, answer.text
    assert set(answer.json()) == {"detail", "code"}


async def test_waiting_requests_are_capped_and_the_same_ask_is_not_repeated(client, sessions):
    headers, user_id = await signed_up(client)
    await _snapshot(sessions, user_id, total=500)  # not every file listed: any memory path may be named
    for _ in range(3):
        assert (await client.post(f"{URL}/refresh", headers=headers)).status_code == 202
    assert len((await client.get(URL, headers=headers)).json()["pending"]) == 1
    for day in range(1, MAX_PENDING):
        answer = await client.delete(URL, params={"path": f"memory/2026-12-0{day}.md"}, headers=headers)
        assert answer.status_code == 202, answer.text
    refused = await client.delete(URL, params={"all": "true"}, headers=headers)
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_MEMORY_REQUESTS"


async def test_a_failed_read_says_why_until_a_later_one_is_done(client, sessions):
    headers, user_id = await signed_up(client)
    await _snapshot(sessions, user_id)
    async with transaction(sessions) as s:  # a later transaction: finished after the snapshot
        s.add(MemoryRequest(user_id=user_id, action="READ", status="FAILED", finished_at=func.now(), error="too large"))
    body = (await client.get(URL, headers=headers)).json()
    assert body["error"] == "too large" and body["files"] == FILES
    await _snapshot(sessions, user_id, files=[])
    assert (await client.get(URL, headers=headers)).json()["error"] is None


async def test_a_done_request_keeps_only_the_newest_snapshot(client, sessions, settings):
    headers, user_id = await signed_up(client)
    other_headers, other_id = await signed_up(client)
    await _snapshot(sessions, user_id)
    await _snapshot(sessions, other_id)
    async with transaction(sessions) as s:
        s.add(MemoryRequest(user_id=user_id, action="READ", status="FAILED", finished_at=func.now(), error="x"))
    assert (await client.delete(URL, params={"all": "true"}, headers=headers)).status_code == 202

    assert await memory.fulfil_memory_requests(settings, sessions, {}) == 1
    async with sessions() as s:
        rows = (await s.execute(select(MemoryRequest.user_id, MemoryRequest.action, MemoryRequest.status))).all()
    assert sorted(rows) == sorted([(user_id, "FORGET", "DONE"), (other_id, "READ", "DONE")])
    assert (await client.get(URL, headers=headers)).json()["files"] == []
    assert (await client.get(URL, headers=other_headers)).json()["files"] == FILES
