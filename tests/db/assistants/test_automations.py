"""`PUT /runtime/automations` on the real app and PostgreSQL: the assistant's plugin reports every reminder and
watcher it set up; the list is stored whole for the token's user only, each new one shows once in that user's
recent activity, and the same report again changes nothing. Past the limits it is refused with a code. The
stand-in assistant reports the reminders it is told to set (`remind <N> <words>`), as `yourclaw dev` shows them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from tests.harness.assistant_protocol import make_owner, queue_message
from tests.harness.live_server import LiveServer
from tests.harness.rows import signed_up
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, AssistantAutomation, AssistantEvent, Outbox
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.standins.assistant import StandinAssistant

pytestmark = pytest.mark.db

AUTOMATIONS = "/api/v1/runtime/automations"
MAX, NAME_MAX = 4, 40


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, AUTOMATIONS_MAX=str(MAX), AUTOMATION_NAME_MAX_CHARS=str(NAME_MAX))


async def _with_assistant(client, sessions) -> tuple[dict[str, str], dict[str, str], uuid.UUID]:
    """A signed-in user with an assistant: (the dashboard's headers, the assistant token's headers, user id)."""
    headers, user_id = await signed_up(client)
    async with transaction(sessions) as s:
        row = Assistant(user_id=user_id, model=catalog.DEFAULT_MODEL, status="READY", phase="ready")
        s.add(row)
        await s.flush()
        token = await tokens.issue(s, SecretBox([Fernet.generate_key().decode()]), user_id=user_id, assistant_id=row.id)
    return headers, {"Authorization": f"Bearer {token}"}, user_id


def _automation(automation_id: str, name: str, kind: str, in_hours: float | None = 1, **extra) -> dict:
    due = None if in_hours is None else (datetime.now(UTC) + timedelta(hours=in_hours)).isoformat()
    return {"id": automation_id, "name": name, "kind": kind, "next_run_at": due, "enabled": True} | extra


async def _stored(sessions, user_id) -> dict[str, AssistantAutomation]:
    async with sessions() as s:
        rows = await s.scalars(select(AssistantAutomation).where(AssistantAutomation.user_id == user_id))
        return {row.automation_id: row for row in rows}


async def _events(sessions, user_id) -> int:
    async with sessions() as s:
        return await s.scalar(
            select(func.count()).where(AssistantEvent.user_id == user_id, AssistantEvent.kind == "automation_set")
        )


async def _activity(client, headers) -> list[dict]:
    response = await client.get("/api/v1/activity", headers=headers)
    assert response.status_code == 200, response.text
    return [item for item in response.json()["items"] if item["kind"] == "automation_set"]


async def test_the_whole_list_is_stored_for_the_token_user_and_each_new_one_shows_once(client, sessions):
    alice, alice_token, alice_id = await _with_assistant(client, sessions)
    bob, bob_token, bob_id = await _with_assistant(client, sessions)
    reported = [
        _automation("job-dentist", "call the dentist", "one_time", in_hours=20),
        _automation("job-plants", "water the plants", "recurring", in_hours=3),
        _automation("job-parcel", "parcel-watch", "watcher", in_hours=None),
        _automation("job-old", "an old one", "one_time", enabled=False),
    ]
    response = await client.put(AUTOMATIONS, json={"automations": reported}, headers=alice_token)
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 4, "added": 4, "removed": 0}
    stored = await _stored(sessions, alice_id)
    assert set(stored) == {"job-dentist", "job-plants", "job-parcel", "job-old"}
    assert stored["job-parcel"].kind == "watcher" and stored["job-parcel"].next_run_at is None
    assert stored["job-old"].enabled is False

    # The dashboard shows what was set up (a disabled one is no news), with its kind and when it runs.
    shown = {item["preview"]: item for item in await _activity(client, alice)}
    assert set(shown) == {"call the dentist", "water the plants", "parcel-watch"}
    dentist = shown["call the dentist"]
    assert dentist["automation_kind"] == "one_time" and dentist["status"] == "DONE"
    due = datetime.fromisoformat(reported[0]["next_run_at"])
    assert abs(datetime.fromisoformat(dentist["next_run_at"]) - due) < timedelta(seconds=1)
    assert shown["parcel-watch"]["automation_kind"] == "watcher" and shown["parcel-watch"]["next_run_at"] is None

    # Bob's assistant sees and changes only Bob's.
    assert await _activity(client, bob) == []
    response = await client.put(AUTOMATIONS, json={"automations": []}, headers=bob_token)
    assert response.json() == {"count": 0, "added": 0, "removed": 0}
    assert len(await _stored(sessions, alice_id)) == 4 and await _stored(sessions, bob_id) == {}

    # The same report again (a retry, a restart) changes nothing and tells nobody twice.
    response = await client.put(AUTOMATIONS, json={"automations": reported}, headers=alice_token)
    assert response.json() == {"count": 4, "added": 0, "removed": 0}
    assert await _events(sessions, alice_id) == 3

    # The dentist reminder went off (OpenClaw removed it); a new one came; the plants moved to the next day.
    later = [
        _automation("job-plants", "water the plants", "recurring", in_hours=27),
        reported[2],
        reported[3],
        _automation("job-mum", "ring mum", "one_time", in_hours=5),
    ]
    response = await client.put(AUTOMATIONS, json={"automations": later}, headers=alice_token)
    assert response.json() == {"count": 4, "added": 1, "removed": 1}
    stored = await _stored(sessions, alice_id)
    assert "job-dentist" not in stored and stored["job-plants"].next_run_at > due
    assert await _events(sessions, alice_id) == 4
    assert [item["preview"] for item in await _activity(client, alice)][0] == "ring mum"

    # Nothing left: every row goes.
    response = await client.put(AUTOMATIONS, json={"automations": []}, headers=alice_token)
    assert response.json() == {"count": 0, "added": 0, "removed": 4}
    assert await _stored(sessions, alice_id) == {}


@pytest.mark.parametrize(
    ("automations", "status", "code"),
    [
        ([_automation(f"job-{i}", f"reminder {i}", "one_time") for i in range(MAX + 1)], 413, "TOO_MANY_AUTOMATIONS"),
        ([_automation("job-1", "x" * (NAME_MAX + 1), "one_time")], 422, "AUTOMATION_NAME_TOO_LONG"),
        ([_automation("job-1", "a", "one_time"), _automation("job-1", "b", "watcher")], 422, "DUPLICATE_AUTOMATION_ID"),
        ([_automation("job-1", "a", "sometimes")], 422, "VALIDATION_ERROR"),
        ([_automation("job-1", "", "one_time")], 422, "VALIDATION_ERROR"),
        ([_automation("j" * 101, "a", "one_time")], 422, "VALIDATION_ERROR"),
        ([_automation("job-1", "a", "one_time", next_run_at="2026-12-08T09:00:00")], 422, "VALIDATION_ERROR"),
        ([_automation("job-1", "a", "one_time", secret="x")], 422, "VALIDATION_ERROR"),
    ],
    ids=["too-many", "long-name", "duplicate-id", "unknown-kind", "empty-name", "long-id", "naive-time", "extra-field"],
)
async def test_a_report_past_the_limits_is_refused_whole(client, sessions, automations, status, code):
    _, token, user_id = await _with_assistant(client, sessions)
    await client.put(AUTOMATIONS, json={"automations": [_automation("kept", "kept", "recurring")]}, headers=token)
    response = await client.put(AUTOMATIONS, json={"automations": automations}, headers=token)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code and response.json()["detail"]
    assert set(await _stored(sessions, user_id)) == {"kept"}


async def test_only_an_assistant_token_may_report(client, sessions):
    dashboard, _, user_id = await _with_assistant(client, sessions)
    body = {"automations": [_automation("job-1", "a", "one_time")]}
    for headers in ({}, dashboard, {"Authorization": "Bearer yca_" + "x" * 43}):
        response = await client.put(AUTOMATIONS, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "INVALID_ASSISTANT_TOKEN"
    assert await _stored(sessions, user_id) == {}


async def test_the_stand_in_assistant_reports_a_reminder_it_set_up_and_its_going_off(
    database_url, db, sessions, tmp_path
):
    owner = await make_owner(sessions)
    async with LiveServer(make_settings(database_url)) as server:
        config = tmp_path / "openclaw.json"
        channel = {"apiUrl": server.url, "token": owner.token, "userId": str(owner.user_id), "generation": 1}
        config.write_text(json.dumps({"channels": {"yourclaw": channel}}))
        assistant = StandinAssistant(config, health_port=None, poll_wait=5)
        assistant.start()
        try:
            await queue_message(sessions, owner.user_id, "remind 2 call the dentist")
            stored = await wait_for(lambda: _stored(sessions, owner.user_id), message="the reminder reported")
            (reminder,) = stored.values()
            assert (reminder.name, reminder.kind, reminder.enabled) == ("call the dentist", "one_time", True)

            async def gone_off() -> bool:
                return not await _stored(sessions, owner.user_id)

            await wait_for(gone_off, timeout=20, message="the reminder to go off and be reported gone")
        finally:
            await asyncio.to_thread(assistant.stop)
    async with sessions() as s:
        sent = await s.scalars(select(Outbox.body).where(Outbox.user_id == owner.user_id, Outbox.kind == "proactive"))
        assert sent.all() == ["Reminder: call the dentist"]
    assert await _events(sessions, owner.user_id) == 1
