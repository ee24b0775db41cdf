"""The whole product with a real OpenClaw: a new user signs in, links their WhatsApp number, pays, and talks to
their own assistant in a real container on a real Docker engine over mutual TLS; it remembers them, writes
first on a schedule, follows a model change in place, switches to their own Anthropic key without ever
seeing it, survives an image upgrade with its memory, and stops when they cancel. Only Anthropic, Twilio,
Stripe and Google are local standins (spoken to by our proxy and the real SDKs).

Connected Google services: the user connects Calendar (the Google stand-in's consent) and asks "what is on my
calendar tomorrow?"; the (scripted) model calls our calendar tool, OpenClaw calls our MCP server with the
assistant's own token, the server reads the stand-in's calendar, and the reply at Twilio names the event. The
same with Gmail search. No Google token is anywhere in the container; disconnecting takes the tools away at the
next turn; the container is never restarted for any of it.

Run with `-s` to see the figures (start-up split, reply times, memory, model change)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import select

from tests.harness.google import consent
from tests.harness.journey import Figures, onboard, walk
from tests.harness.journey_support import (
    STEP_TIMEOUT,
    User,
    containers_of,
    describe_calls,
    docker_call,
    dump_calls,
    file_in,
    inspect,
    key_sightings,
    message_calls,
    split_body,
)
from tests.harness.settings import PROJECT_ROOT
from tests.harness.waiting import wait_for
from yourclaw.db.models import IntegrationCall
from yourclaw.runtime import openclaw_config
from yourclaw.runtime.container_spec import DATA_DIR
from yourclaw.standins.anthropic_wire import ToolCall

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "e2e"


@pytest.mark.timeout(1800)
async def test_a_new_user_end_to_end(control_plane) -> None:
    cp = control_plane
    figures = Figures()
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await walk(user, figures)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            dump_calls(cp.llm, ARTIFACTS / "llm-calls.json")
            await _print_container_logs(user)
            raise
        finally:
            figures.values["whole journey"] = time.monotonic() - started
            figures.print()


async def _print_container_logs(user: User, lines: int = 60) -> None:
    """What the assistant said about itself, for a failed run."""
    if user.user_id is None:
        return
    oc = user.cp.oc
    for container in await docker_call(containers_of, oc, user.user_id):
        tail = await docker_call(oc.client.api.logs, container, tail=lines)
        print(f"\n==== last {lines} log lines of {container[:12]} ====\n{tail.decode(errors='replace')}")


CALENDAR_ASK = "what is on my calendar tomorrow?"
GMAIL_ASK = "is there an invoice email in my gmail?"
EVENT = "Dentist appointment with Dr. Molar"
MAIL = "Invoice 4471 from ACME"
NO_TOOL = "I could not reach that"
# OpenClaw 2026.9.6 runs Anthropic models in code mode: the model sees `exec` and calls MCP tools from its code as
# `MCP.<server>.<tool in camelCase>()`; without code mode it would see each tool by name.
ASKS = (
    (CALENDAR_ASK, "calendar_list_events", "calendarListEvents", {}),
    (GMAIL_ASK, "gmail_search", "gmailSearch", {"query": "invoice"}),
)


def _tool_named(body: dict, suffix: str) -> str | None:
    return next((t["name"] for t in body.get("tools") or [] if t.get("name", "").endswith(suffix)), None)


def google_model(body: dict) -> str | ToolCall:
    """The user's model, scripted, answering every call (so no reply can come from a default answer): it calls
    our tool when asked about the calendar or mail, and answers from what the tool returned."""
    messages = body.get("messages") or []
    # What came back since the model last spoke (OpenClaw adds a context message after the tool's result).
    spoke = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    last = json.dumps(messages[spoke + 1 :])
    if "tool_result" in last:
        for found in (EVENT, MAIL):
            if found in last:
                return f"From your Google account: {found}."
        return f"{NO_TOOL}: " + last[-400:]
    _, latest = split_body(body)
    for ask, tool, method, arguments in ASKS:
        if ask in latest:
            if _tool_named(body, "exec"):
                code = f"return await MCP.google.{method}({json.dumps(arguments)});"
                return ToolCall("exec", {"title": f"ask Google ({tool})", "code": code})
            name = _tool_named(body, tool)
            return ToolCall(name, arguments) if name else f"{NO_TOOL} ({tool})."
    return "ok"


async def _google_calls(user: User) -> list[tuple[str, str]]:
    """The audit of the user's Google tool calls: (tool, outcome), in order."""
    async with user.cp.sessions() as session:
        rows = await session.execute(
            select(IntegrationCall.tool, IntegrationCall.outcome)
            .where(IntegrationCall.user_id == user.user_id)
            .order_by(IntegrationCall.id)
        )
    return [tuple(row) for row in rows.all()]


async def _config_polled(user: User, after: int) -> None:
    async def polled() -> bool:
        row = await user.assistant()
        return row.observed_generation is not None and row.observed_generation > after

    await wait_for(polled, timeout=STEP_TIMEOUT, interval=0.2, message="the rewritten config to be polled")


async def _connect(user: User, service: str) -> None:
    before = await user.assistant()
    started = await user.api("GET", f"/oauth/google/{service}/connect", 200)
    back = await consent(user.http, started["auth_url"])
    response = await user.http.get(f"/api/v1/oauth/google/{service}/callback", params=back, headers=user.headers)
    assert response.status_code == 302 and f"connected={service}" in response.headers["location"], response.text
    await _config_polled(user, before.desired_generation)


@pytest.mark.timeout(1800)
async def test_the_assistant_uses_the_users_google_services_through_our_mcp_server(control_plane):
    cp = control_plane
    cp.llm.script = google_model
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await _walk_google(user)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            dump_calls(cp.llm, ARTIFACTS / "google-llm-calls.json")
            await _print_container_logs(user)
            raise


async def _walk_google(user: User) -> None:
    cp, oc = user.cp, user.cp.oc
    onboarded = await onboard(user)
    container = onboarded.row.container_id
    started_at = (await docker_call(inspect, oc, container))["State"]["StartedAt"]

    await _connect(user, "calendar")
    written = json.loads(await docker_call(file_in, oc, container, f"{DATA_DIR}/{openclaw_config.CONFIG_PATH}"))
    assert written["mcp"]["servers"]["google"]["transport"] == "streamable-http"
    await user.turn(CALENDAR_ASK, EVENT)
    assert ("calendar_list_events", "ok") in await _google_calls(user)

    await _connect(user, "gmail")
    await user.turn(GMAIL_ASK, MAIL)
    assert ("gmail_search", "ok") in await _google_calls(user)

    # The tokens stay in the control plane: none of those Google issued is anywhere in the container.
    assert cp.google.issued
    assert await docker_call(key_sightings, oc, container, tuple(cp.google.issued)) == []

    # Disconnected: the calendar tools are gone at the next turn; no call of them reaches Google.
    before = await user.assistant()
    await user.api("DELETE", "/oauth/google/calendar", 204)
    await _config_polled(user, before.desired_generation)
    calls = len(await _google_calls(user))
    turn = await user.turn(CALENDAR_ASK, NO_TOOL)
    assert EVENT not in turn.reply.message.body
    assert ("calendar_list_events", "ok") not in (await _google_calls(user))[calls:]

    info = await docker_call(inspect, oc, container)
    assert info["State"]["Running"] and info["State"]["StartedAt"] == started_at and info["RestartCount"] == 0
