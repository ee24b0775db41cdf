"""A new user's whole journey through the product with a real OpenClaw, step by step, and the figures measured on
the way. Walked by tests/e2e/test_journey.py and by bench/openclaw_e2e.py."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import update

from tests.harness.journey_support import (
    OWN_KEY,
    SHARED_KEY,
    STEP_TIMEOUT,
    WORKSPACE,
    Reply,
    User,
    containers_of,
    docker_call,
    docker_time,
    expected_charge,
    file_in,
    first_log,
    inspect,
    key_sightings,
    log_lines,
    memory_usage,
    message_calls,
    run_in,
    split_latest,
    volume_exists,
    write_in,
)
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant
from yourclaw.runtime.apply import READY_TEXT

NEW_MODEL = "anthropic/claude-opus-5"
NOTE = "kept-across-upgrades"
CRON_MARKER = "e2e-cron-water-the-plants"


class Figures:
    """Seconds (and memory readings) measured on the way, printed at the end."""

    def __init__(self) -> None:
        self.values: dict[str, float | str] = {}

    def span(self, name: str, start: float | None, end: float | None) -> None:
        if start is not None and end is not None:
            self.values[name] = end - start

    def note(self, name: str, value: str) -> None:
        self.values[name] = value

    def print(self) -> None:
        print("\n==== OpenClaw end-to-end figures ====")
        for name, value in self.values.items():
            shown = f"{value:6.1f} s" if isinstance(value, float) else value
            print(f"  {name:<58} {shown}")


@dataclass
class Onboarded:
    """A new user with a READY assistant, and when each step of getting there happened."""

    paid_at: float
    webhooks_done: float
    row: Assistant
    ready_seen: float
    ready_message: Reply


async def onboard(user: User) -> Onboarded:
    """Sign in, give the number, verify it by sending the code from WhatsApp, pay; then provisioning with no
    click: the reconciler creates and starts the container, the plugin polls, the "ready" message goes out."""
    await user.sign_in()
    pending = await user.api("POST", "/users/me/phone", 200, json={"phone": user.phone})
    assert pending["verified"] is False
    await user.whatsapp(f"link {pending['verification']['code']}")
    await wait_for(user.phone_verified, timeout=STEP_TIMEOUT, message="the number to be verified")
    paid_at = time.time()
    webhooks_done = await user.pay()
    subscription = await user.api("GET", "/subscription", 200)
    assert subscription["status"] == "ACTIVE", subscription
    row = await user.ready()
    ready_seen = time.time()
    ready_message = await user.wait_message(READY_TEXT, after=0)
    return Onboarded(paid_at, webhooks_done, row, ready_seen, ready_message)


async def walk(user: User, figures: Figures) -> None:
    """Every step in order; raises at the first one that does not hold."""
    cp, oc = user.cp, user.cp.oc
    keys = (SHARED_KEY, OWN_KEY)

    onboarded = await onboard(user)
    paid_at, row, ready_seen, ready_message = (
        onboarded.paid_at,
        onboarded.row,
        onboarded.ready_seen,
        onboarded.ready_message,
    )
    figures.span("checkout paid -> its webhooks delivered", paid_at, onboarded.webhooks_done)
    container = row.container_id
    info = await docker_call(inspect, oc, container)
    assert info["Config"]["Image"] == oc.image and info["State"]["Running"]
    lines = await docker_call(log_lines, oc, container)
    figures.span("paid -> container created", paid_at, docker_time(info["Created"]))
    figures.span("paid -> container started", paid_at, docker_time(info["State"]["StartedAt"]))
    started = docker_time(info["State"]["StartedAt"])
    figures.span("  started -> gateway HTTP listening (log)", started, first_log(lines, "http server listening"))
    first_poll = first_log(lines, "[yourclaw] polling as")
    figures.span("  started -> plugin's first poll (log)", started, first_poll)
    figures.span("paid -> plugin's first poll", paid_at, first_poll)
    figures.span("paid -> READY", paid_at, ready_seen)
    figures.span("paid -> 'ready' WhatsApp at Twilio", paid_at, ready_message.seen_at)
    figures.note("memory, idle after start (limit 2 GiB)", await docker_call(memory_usage, oc, container))
    assert await docker_call(key_sightings, oc, container, keys) == []

    # The first turn: a signed webhook, the reply at Twilio.
    first = await user.turn("hi, remember my name is Ana", "Nice to meet you, Ana!")
    figures.span("first reply (webhook -> reply at Twilio)", first.asked_at, first.reply.seen_at)
    figures.span("  first: webhook -> the agent's LLM call", first.asked_at, first.call_at)
    figures.span("  first: the agent's LLM call -> reply at Twilio", first.call_at, first.reply.seen_at)
    figures.note("  first: LLM calls / WhatsApp messages", f"{len(first.calls)} / {len(first.messages)}")
    assert first.call.headers["x-api-key"] == SHARED_KEY

    # The second turn reaches the LLM with the first in its history, kept by OpenClaw: we sent only the text.
    second = await user.turn("what is my name?", "Your name is Ana.")
    figures.span("second reply (webhook -> reply at Twilio)", second.asked_at, second.reply.seen_at)
    figures.span("  second: webhook -> the agent's LLM call", second.asked_at, second.call_at)
    figures.note("  second: LLM calls / WhatsApp messages", f"{len(second.calls)} / {len(second.messages)}")
    figures.note("  second: WhatsApp messages", repr([m.body[:60] for m in second.messages]))
    history, _ = split_latest(second.call)
    assert any(role == "user" and "remember my name is Ana" in text for role, text in history), history
    assert any(role == "assistant" and "Nice to meet you, Ana!" in text for role, text in history), history
    assert (await user.inbound_bodies())[-1] == "what is my name?"

    # Credits: exactly what the standin reported, summed over every call OpenClaw made with the shared key.
    await _charged_exactly(user)
    figures.note("LLM calls so far (all metered)", str(len(message_calls(cp.llm))))

    # A file the user's assistant keeps in its workspace (checked after the upgrade).
    await docker_call(write_in, oc, container, f"{WORKSPACE}/e2e-note.md", NOTE)

    await _scheduled_job(user, container)
    started_at = info["State"]["StartedAt"]
    await _model_change(user, figures, container, started_at)
    await _own_key(user, container)
    figures.note("memory after a few turns (limit 2 GiB)", await docker_call(memory_usage, oc, container))
    assert await docker_call(key_sightings, oc, container, keys) == []
    await _upgrade(user, figures, container)
    await _cancel(user)


async def _charged_exactly(user: User) -> int:
    """Once the last answers are metered, the charge is exactly what the standin reported for every call made
    with the shared key (own-key calls cost the user nothing here); returns it."""

    async def settled() -> int | None:
        charged = await user.llm_charged()
        return charged if charged == expected_charge(user.cp.llm, SHARED_KEY) > 0 else None

    return await wait_for(settled, timeout=STEP_TIMEOUT, message="the charge to equal the standin's usage")


async def _scheduled_job(user: User, container: str) -> None:
    """A one-shot job made with the OpenClaw CLI inside the container fires on its own: its message reaches
    WhatsApp with no inbound message."""
    oc = user.cp.oc
    inbound = len(await user.inbound_bodies())
    sent = len(user.received())
    user.cp.llm.reply = f"Reminder: {CRON_MARKER}"
    code, out, err = await docker_call(
        run_in,
        oc,
        container,
        "openclaw", "cron", "add",
        "--at", "15s",
        "--name", "e2e-reminder",
        "--session", "isolated",
        "--message", f"Tell the user: {CRON_MARKER}",
        "--announce", "--channel", "yourclaw", "--to", str(user.user_id),
    )  # fmt: skip
    assert code == 0, f"openclaw cron add failed ({code}): {out.decode()[-800:]} {err.decode()[-800:]}"
    await user.wait_message(CRON_MARKER, after=sent)
    assert len(await user.inbound_bodies()) == inbound


async def _model_change(user: User, figures: Figures, container: str, started_at: str) -> None:
    """PATCH the model: the config is rewritten in place; the next turn names the new model upstream, from
    the same container, never restarted."""
    oc = user.cp.oc
    before = await user.assistant()
    patched_at = time.time()
    await user.api("PATCH", "/assistants", 202, json={"model": NEW_MODEL})

    async def applied():
        row = await user.assistant()
        return row.observed_generation is not None and row.observed_generation > before.desired_generation and row

    row = await wait_for(applied, timeout=STEP_TIMEOUT, interval=0.05, message="the new generation to be polled")
    figures.span("model change: PATCH -> new config polled", patched_at, time.time())
    assert row.container_id == container

    turn = await user.turn("which model answers now?", "Opus answering.")
    figures.span("model change: reply on the new model (webhook -> Twilio)", turn.asked_at, turn.reply.seen_at)
    assert turn.call.json()["model"] == NEW_MODEL.split("/", 1)[1]
    info = await docker_call(inspect, oc, container)
    assert info["State"]["Running"] and info["State"]["StartedAt"] == started_at and info["RestartCount"] == 0


async def _own_key(user: User, container: str) -> None:
    """With their own key set, the next turn carries it upstream; shared-key charges stop growing."""
    cp = user.cp
    await user.api("POST", "/api-keys", 201, json={"provider": "ANTHROPIC", "key": OWN_KEY})
    charged = await _charged_exactly(user)
    turn = await user.turn("I added my own key", "Thanks, using your key now.")
    assert turn.call.headers["x-api-key"] == OWN_KEY
    assert all(c.headers["x-api-key"] == OWN_KEY for c in turn.calls)
    assert await _charged_exactly(user) == charged
    assert await docker_call(key_sightings, cp.oc, container, (SHARED_KEY, OWN_KEY)) == []


async def _upgrade(user: User, figures: Figures, container: str) -> None:
    """A new image: the container is recreated on it; the volume brings the workspace and the conversation."""
    cp, oc = user.cp, user.cp.oc
    upgraded_at = time.time()
    async with transaction(cp.sessions) as session:
        await session.execute(update(Assistant).where(Assistant.user_id == user.user_id).values(image=oc.upgrade_image))
    cp.reconciler.wake()
    row = await user.ready(other_than=container)
    figures.span("image upgrade: recreate -> READY again", upgraded_at, time.time())
    new = row.container_id
    assert (await docker_call(inspect, oc, new))["Config"]["Image"] == oc.upgrade_image
    assert await docker_call(containers_of, oc, user.user_id) == [new]
    assert await docker_call(file_in, oc, new, f"{WORKSPACE}/e2e-note.md") == NOTE

    turn = await user.turn("do you still know my name?", "Yes, Ana.")
    history, _ = split_latest(turn.call)
    assert any(role == "user" and "remember my name is Ana" in text for role, text in history), history
    assert await docker_call(key_sightings, oc, new, (SHARED_KEY, OWN_KEY)) == []


async def _cancel(user: User) -> None:
    """Cancelled in Stripe's portal: the container goes, the volume (their assistant's memory) stays."""
    oc = user.cp.oc
    await user.cancel_in_portal()

    async def gone() -> bool:
        row = await user.assistant()
        # The engine first, then the reconciler's record of it.
        return not row.wanted and row.container_id is None and not await docker_call(containers_of, oc, user.user_id)

    await wait_for(gone, timeout=STEP_TIMEOUT, interval=0.2, message="the container to be removed")
    assert await docker_call(volume_exists, oc, user.user_id)
    assert (await user.api("GET", "/subscription", 200))["status"] == "CANCELED"
