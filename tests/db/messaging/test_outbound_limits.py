"""Outbound that an assistant's own token cannot abuse, from the protocol's endpoint to the Twilio stand-in:
a "reply" that answers no message handed to the assistant goes as proactive (the proactive cap and quiet
hours hold it), and the daily cap on WhatsApp message parts holds every kind, under concurrency, with one
notice to the user."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update

from tests.harness.assistant_protocol import Owner, Served, make_owner, only_message, poll, queue_message, serve
from tests.harness.outbound_sender import sender_settings, senders
from tests.harness.waiting import wait_for
from yourclaw.db.models import Outbox, UsageDaily, User, UserPhone
from yourclaw.messaging import notices
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.messaging.outbound.sender import Tuning
from yourclaw.messaging.outbound.splitting import split_message
from yourclaw.standins.twilio import TwilioStandin

pytestmark = pytest.mark.db

OUTBOUND = "/api/v1/runtime/outbound"
# As the attack sent them: just under the 20,000-character limit, twelve WhatsApp messages each.
LONG = " ".join(f"word{i:05d}" for i in range(1900))


@pytest.fixture
def standin() -> TwilioStandin:
    standin = TwilioStandin(account_sid="AC" + "c" * 32)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def served_with(database_url, standin, db):
    """Starts the app on settings the test chooses, which the sender then uses too."""
    return lambda **overrides: serve(sender_settings(database_url, standin, **overrides))


async def owner_with_phone(sessions, phone: str, *, timezone: str | None = None) -> Owner:
    """An assistant's owner whose verified number wrote a minute ago (the 24-hour window is open)."""
    owner = await make_owner(sessions)
    async with sessions() as s:
        user = await s.get(User, owner.user_id)
        user.timezone = timezone
        s.add(
            UserPhone(
                user_id=owner.user_id,
                phone_e164=phone,
                verified_at=datetime.now(UTC),
                last_inbound_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
        await s.commit()
    return owner


async def post(served: Served, owner: Owner, key: str, text_: str, *, in_reply_to: uuid.UUID | None = None):
    body = {"kind": "reply", "text": text_} | ({"in_reply_to": str(in_reply_to)} if in_reply_to else {})
    return await served.http.post(OUTBOUND, json=body, headers=owner.headers | {"Idempotency-Key": key})


async def rows_of(sessions, user_id: uuid.UUID) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.scalars(select(Outbox).where(Outbox.user_id == user_id).order_by(Outbox.id))).all())


async def next_usage_day(sessions) -> datetime:
    async with sessions() as s:
        return await s.scalar(text("SELECT (current_date + 1)::timestamptz"))


def settled(rows: list[Outbox], *, now: datetime) -> bool:
    """Nothing left the sender could act on now: each row went, or waits for a later time."""
    return all(r.status == "SENT" or (r.status == "PENDING" and r.not_before and r.not_before > now) for r in rows)


async def wait_settled(sessions, user_id: uuid.UUID, *, expected: int, timeout: float = 60) -> list[Outbox]:
    async def check():
        rows = await rows_of(sessions, user_id)
        return rows if len(rows) == expected and settled(rows, now=datetime.now(UTC)) else None

    return await wait_for(check, timeout=timeout, message=f"{expected} outbox rows to go or be held")


# --- "reply" is a claim, checked ------------------------------------------------------------------


async def test_thirty_replies_that_answer_nothing_handed_out_go_as_proactive_and_the_cap_holds_them(
    served_with, standin, sessions
):
    phone = "+15557770001"
    async with served_with(PROACTIVE_DAILY_CAP="2") as served:
        owner = await owner_with_phone(sessions, phone)
        # A real message of the user's, queued but never handed out: naming it makes nothing a reply.
        waiting = await queue_message(sessions, owner.user_id, "not handed out", notify=False)
        responses = await asyncio.gather(
            *(post(served, owner, f"k{i}", LONG, in_reply_to=waiting if i % 2 else None) for i in range(30))
        )
        assert [r.status_code for r in responses] == [202] * 30
        assert {r.json()["kind"] for r in responses} == {"proactive"}

        async with senders(served.state.settings):
            rows = await wait_settled(sessions, owner.user_id, expected=30)

    assert {(r.kind, r.requested_kind) for r in rows} == {("proactive", "reply")}
    sent = [r for r in rows if r.status == "SENT"]
    assert len(sent) == 2, "the proactive daily cap applies"
    tomorrow = await next_usage_day(sessions)
    held = [r for r in rows if r.status == "PENDING"]
    assert len(held) == 28 and all(r.not_before == tomorrow and "proactive daily cap" in r.last_error for r in held)
    assert len(standin.messages_to(phone)) == 2 * len(split_message(LONG)) == 24


def _quiet_now(zone: str) -> str:
    local = datetime.now(ZoneInfo(zone))
    return f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=1):%H:%M}"


async def test_quiet_hours_hold_a_false_reply_and_let_the_genuine_one_through(served_with, standin, sessions):
    phone = "+15557770002"
    async with served_with(QUIET_HOURS=_quiet_now("Asia/Kathmandu")) as served:
        owner = await owner_with_phone(sessions, phone, timezone="Asia/Kathmandu")
        asked = await queue_message(sessions, owner.user_id, "what time is it?", notify=False)
        assert only_message(await poll(served.http, owner))["id"] == str(asked)
        genuine = await post(served, owner, f"{asked}:0", "It's late: go to sleep.", in_reply_to=asked)
        assert genuine.json()["kind"] == "reply"
        fakes = [await post(served, owner, f"fake{i}", f"buy now {i}") for i in range(5)]
        assert {r.json()["kind"] for r in fakes} == {"proactive"}

        async with senders(served.state.settings):
            rows = await wait_settled(sessions, owner.user_id, expected=6)

    assert [m.body for m in standin.messages_to(phone)] == ["It's late: go to sleep."]
    held = [r for r in rows if r.status == "PENDING"]
    assert len(held) == 5 and all("quiet hours" in r.last_error for r in held)


# --- the daily part cap ----------------------------------------------------------------------------


async def test_the_part_cap_holds_every_kind_under_concurrency_and_its_notice_goes_once(
    served_with, standin, sessions, database_url
):
    phone, cap = "+15557770003", 30
    three_parts = "\n\n".join(f"Paragraph {i}. " + "Words and more words. " * 70 for i in range(3))
    assert len(split_message(three_parts)) == 3
    standin.latency = 0.005  # sends take a moment: overlapping sends to one number would be seen
    tuning = Tuning(concurrency=2, retry_base=0.05, retry_cap=0.3)
    async with served_with(OUTBOUND_PARTS_DAILY_CAP=str(cap)) as served:
        owner = await owner_with_phone(sessions, phone)
        asked = await queue_message(sessions, owner.user_id, "tell me everything", notify=False)
        assert only_message(await poll(served.http, owner))["id"] == str(asked)

        async with senders(served.state.settings, count=3, tuning=tuning):
            # Genuine replies (not capped as proactive) and proactive ones, posted all at once while three
            # senders drain the outbox.
            responses = await asyncio.gather(
                *(
                    post(served, owner, f"{asked}:{i}", three_parts if i % 3 else f"short {i}", in_reply_to=asked)
                    for i in range(24)
                ),
                *(post(served, owner, f"p{i}", f"reminder {i}") for i in range(6)),
            )
            assert [r.status_code for r in responses] == [202] * 30
            rows = await wait_settled(sessions, owner.user_id, expected=31)  # and the notice

            # Our own notices are not held by the cap (credits, verification): one goes now.
            async with sessions() as s:
                await enqueue_whatsapp(s, owner.user_id, "Heads up: credits are low.", "system")
                await s.commit()
            rows = await wait_settled(sessions, owner.user_id, expected=32)

    notice = notices.outbound_capped(cap, await next_usage_day(sessions), UTC)
    bodies = [m.body for m in standin.messages_to(phone)]
    assert bodies.count(notice) == 1
    assistant_parts = [b for b in bodies if b not in (notice, "Heads up: credits are low.")]
    assert 0 < len(assistant_parts) <= cap, "the cap held"
    assert len(bodies) == len(assistant_parts) + 2
    assert standin.max_concurrent_per_recipient == 1

    # Held, not lost: every message went whole or waits whole for tomorrow.
    tomorrow = await next_usage_day(sessions)
    held = [r for r in rows if r.status == "PENDING"]
    assert held and all(r.not_before == tomorrow and r.parts_sent == 0 for r in held)
    assert all(r.parts_sent == len(split_message(r.body)) for r in rows if r.status == "SENT")
    assert len(assistant_parts) + sum(len(split_message(r.body)) for r in held if r.kind != "system") > cap
    (notice_row,) = [r for r in rows if r.body == notice]
    assert notice_row.kind == "system" and notice_row.dedupe_key.startswith("outbound-cap:")
    async with sessions() as s:
        usage = await s.scalar(select(UsageDaily).where(UsageDaily.user_id == owner.user_id))
        today = await s.scalar(select(func.current_date()))
    assert (usage.day, usage.outbound_count) == (today, len(bodies))
    assert usage.outbound_capped_at is not None

    # The next day (today's counters become yesterday's; a larger cap lets the whole backlog through):
    # every held message goes, whole, once.
    async with sessions() as s:
        await s.execute(update(UsageDaily).where(UsageDaily.user_id == owner.user_id).values(day=UsageDaily.day - 1))
        await s.execute(update(Outbox).where(Outbox.status == "PENDING").values(not_before=func.now()))
        await s.commit()
    async with senders(sender_settings(database_url, standin, OUTBOUND_PARTS_DAILY_CAP="100"), tuning=tuning):
        rows = await wait_for(
            lambda: _all_sent(sessions, owner.user_id), timeout=60, message="the held messages the next day"
        )
    expected = sorted(p.strip() for r in rows for p in split_message(r.body))
    assert sorted(m.body for m in standin.messages_to(phone)) == expected


async def _all_sent(sessions, user_id: uuid.UUID) -> list[Outbox] | None:
    rows = await rows_of(sessions, user_id)
    return rows if all(r.status == "SENT" for r in rows) else None
