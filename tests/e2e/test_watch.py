"""An idle assistant costs nothing, and "tell me when..." still works, with the real OpenClaw image.

A new user's assistant starts with an effectively empty heartbeat checklist, so its heartbeats are skipped
without a model call; that holds across a config rewrite and a restart. The user asks to be told when their
parcel arrives: the (scripted) model sets up an automation with a condition watcher, which checks on its own
without the model; when the parcel arrives, the watcher fires, the model is asked once, and the message
reaches WhatsApp (the Twilio stand-in) with no message from the user.

Run with `-s` to see the calls made."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from tests.harness.journey import onboard
from tests.harness.journey_support import (
    STEP_TIMEOUT,
    WORKSPACE,
    User,
    describe_calls,
    docker_call,
    file_in,
    last_user_text,
    message_calls,
    split_body,
    write_in,
)
from tests.harness.openclaw_jobs import (
    CHECKLIST_LOG,
    HEARTBEAT,
    checklist,
    effectively_empty,
    get_job,
    job,
    job_named,
    run_job,
    wait_log,
)
from tests.harness.waiting import wait_for
from yourclaw.db.models import AssistantAutomation, LlmSpendDaily
from yourclaw.llm import purposes
from yourclaw.runtime import openclaw_config
from yourclaw.runtime.container_spec import DATA_DIR
from yourclaw.standins.anthropic_wire import ToolCall

pytestmark = pytest.mark.e2e

ASK = "please tell me when my parcel is delivered"
ACK = "I will tell you as soon as your parcel is delivered."
ALERT = "Your parcel has been delivered!"
DELIVERED = f"{WORKSPACE}/parcel-delivered"
FIRED = "The parcel-delivered file appeared."
WATCHER = "parcel-watch"
# What the watcher checks every 30 s, without the model (OpenClaw's code mode: `exec` runs a shell command).
TRIGGER = (
    f"const r = await exec({{command: 'test -f {DELIVERED} && echo yes || echo no'}});"
    " const seen = String(r?.aggregated ?? '').trim() === 'yes';"
    f" json({{fire: seen, message: {json.dumps(FIRED)}, state: {{seen}}}});"
)
# The agent's code-mode call of OpenClaw's automations tool, as a model would write it.
ADD_WATCHER = (
    "return await automations({action: 'add', job: {"
    f"name: '{WATCHER}', schedule: {{kind: 'every', everyMs: 30000}},"
    f" trigger: {{script: {json.dumps(TRIGGER)}, once: true}},"
    " payload: {kind: 'agentTurn', message: 'Tell the user their parcel was delivered.'}}});"
)


def model(body: dict) -> str | ToolCall | None:
    """The user's model, scripted: it sets up the watcher when asked, acknowledges once the tool answered, and
    writes the alert when the watcher fires; anything else gets the stand-in's default answer."""
    messages = body.get("messages") or []
    last = json.dumps(messages[-1:])
    if "tool_result" in last:
        return ACK
    _, latest = split_body(body)
    if FIRED in latest:
        return ALERT
    if ASK in latest and any(tool.get("name") == "exec" for tool in body.get("tools") or []):
        return ToolCall("exec", {"title": "watch for the parcel", "code": ADD_WATCHER})
    return None


async def _heartbeat_is_skipped_for_nothing_to_check(user: User, container: str) -> None:
    cp = user.cp
    heartbeat = await docker_call(job, cp.oc, container, HEARTBEAT)
    assert heartbeat is not None and heartbeat["enabled"], heartbeat
    text = await docker_call(checklist, cp.oc, container, heartbeat["id"])
    assert text is not None and effectively_empty(text), text
    calls = len(message_calls(cp.llm))
    run = await docker_call(run_job, cp.oc, container, heartbeat["id"])
    assert run["status"] == "skipped" and "empty-heartbeat-file" in run.get("error", ""), run
    assert len(message_calls(cp.llm)) == calls, describe_calls(message_calls(cp.llm)[calls:])


async def _reported(user: User) -> list[AssistantAutomation]:
    async with user.cp.sessions() as session:
        mine = select(AssistantAutomation).where(AssistantAutomation.user_id == user.user_id)
        return list((await session.scalars(mine)).all())


async def _activity_shows_the_watcher(user: User, job_id: str) -> datetime:
    async def shown() -> dict | None:
        items = (await user.api("GET", "/activity?limit=50", 200))["items"]
        return next((i for i in items if i["kind"] == "automation_set" and i["preview"] == WATCHER), None)

    item = await wait_for(shown, timeout=STEP_TIMEOUT, interval=0.5, message="the watcher in the recent activity")
    assert item["automation_kind"] == "watcher", item
    stored = await _reported(user)
    # Only the user's own: not the heartbeat or any other job OpenClaw declares for itself.
    assert [(a.automation_id, a.name, a.kind, a.enabled) for a in stored] == [(job_id, WATCHER, "watcher", True)]
    return stored[0].updated_at


@pytest.mark.timeout(1800)
async def test_an_idle_assistant_calls_no_model_and_still_tells_the_user_when_something_happens(control_plane):
    cp = control_plane
    cp.llm.script = model
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await _walk(user)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            raise


async def _walk(user: User) -> None:
    cp, oc = user.cp, user.cp.oc
    onboarded = await onboard(user)
    container = onboarded.row.container_id

    # The image's start-up step left the heartbeat nothing to check, and the heartbeat calls no model.
    line = await wait_log(oc, container, CHECKLIST_LOG)
    assert "left empty" in line, line
    await _heartbeat_is_skipped_for_nothing_to_check(user, container)

    # "Tell me when...": the model sets up a watcher through OpenClaw's automations tool.
    turn = await user.turn(ASK, ACK)
    assert any('"tool_use"' in json.dumps(c.json().get("messages", [])) for c in turn.calls[1:]), "no tool call"
    watcher = await docker_call(job_named, oc, container, WATCHER)
    assert watcher is not None and watcher["trigger"]["once"] is True, watcher
    assert watcher["delivery"]["channel"] == openclaw_config.PLUGIN_ID, watcher["delivery"]
    # The plugin reported it (OpenClaw's cron hooks): the dashboard's recent activity says the assistant watches.
    reported_at = await _activity_shows_the_watcher(user, watcher["id"])

    # Watching costs nothing: the condition is checked without the model.
    calls = len(message_calls(cp.llm))

    async def checked_twice() -> bool:
        state = (await docker_call(get_job, oc, container, watcher["id"]))["state"]
        return state.get("triggerEvalCount", 0) >= 2

    await wait_for(checked_twice, timeout=STEP_TIMEOUT, interval=1, message="the watcher to check twice")
    # Nor does its checking reach the control plane: nothing new to report, so no report.
    assert [a.updated_at for a in await _reported(user)] == [reported_at]
    assert len(message_calls(cp.llm)) == calls, describe_calls(message_calls(cp.llm)[calls:])

    # The parcel arrives: the watcher fires, the model is asked once, the user is told on WhatsApp.
    inbound, sent = len(await user.inbound_bodies()), len(user.received())
    await docker_call(write_in, oc, container, DELIVERED, "yes")
    await user.wait_message(ALERT, after=sent)
    assert len(await user.inbound_bodies()) == inbound
    fired = message_calls(cp.llm)[calls:]
    assert any(FIRED in last_user_text(c) for c in fired) and len(fired) <= 2, describe_calls(fired)
    async with cp.sessions() as session:
        spent = set(await session.scalars(select(LlmSpendDaily.purpose).where(LlmSpendDaily.user_id == user.user_id)))
    assert purposes.CRON in spent and purposes.HEARTBEAT not in spent, spent

    # A config rewrite (a new time zone) and a restart keep the empty checklist: heartbeats stay free.
    before = await user.assistant()
    await user.api("PATCH", "/users/me", 200, json={"timezone": "Asia/Tokyo"})

    async def rewritten():
        row = await user.assistant()
        return row.observed_generation is not None and row.observed_generation > before.desired_generation

    await wait_for(rewritten, timeout=STEP_TIMEOUT, interval=0.2, message="the rewritten config to be polled")
    written = json.loads(await docker_call(file_in, oc, container, f"{DATA_DIR}/{openclaw_config.CONFIG_PATH}"))
    assert written["agents"]["defaults"]["userTimezone"] == "Asia/Tokyo"
    await _heartbeat_is_skipped_for_nothing_to_check(user, container)

    restarted_at = time.time()
    await docker_call(oc.client.api.restart, container, timeout=60)
    line = await wait_log(oc, container, CHECKLIST_LOG, since=restarted_at)
    assert "kept" in line, line
    await _heartbeat_is_skipped_for_nothing_to_check(user, container)
    heartbeats = [c for c in message_calls(cp.llm) if ":heartbeat" in json.dumps(c.json().get("system", ""))]
    assert heartbeats == [], describe_calls(heartbeats)
