"""The dashboard's usage view: messages per day against the limits, credits, the daily message cap, and
what the assistant's thinking cost per day, model and purpose — the signed-in user's own numbers only."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, text, update

from tests.harness.rows import database_today, sign_in, signed_up
from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.db.models import LlmSpendDaily, UsageDaily

pytestmark = pytest.mark.db


async def _usage(sessions, user_id, day: date, **counts) -> None:
    async with transaction(sessions) as s:
        s.add(UsageDaily(user_id=user_id, day=day, **counts))


async def test_usage_is_per_day_zero_filled_with_limits_and_credits(client, sessions, settings):
    headers, user_id = await signed_up(client)
    other_headers, other_id = await signed_up(client)
    today = await database_today(sessions)
    await _usage(sessions, user_id, today, inbound_count=4, outbound_count=5, proactive_count=1, llm_millicents=12_999)
    await _usage(sessions, user_id, today - timedelta(days=2), inbound_count=2, outbound_count=2)
    await _usage(sessions, user_id, today - timedelta(days=30), inbound_count=9)
    await _usage(sessions, other_id, today, inbound_count=77, outbound_count=77, llm_millicents=999_000)
    async with transaction(sessions) as s:
        await credits_repo.grant(s, user_id, 500_000, reference="grant")
        await credits_repo.charge(s, user_id, 12_999, reference="llm-1")

    response = await client.get("/api/v1/usage", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["day"] for d in body["days"]] == [(today - timedelta(days=6 - i)).isoformat() for i in range(7)]
    assert body["days"][-1] == {
        "day": today.isoformat(),
        "inbound": 4,
        "outbound": 5,
        "assistant_messages": 0,
        "proactive": 1,
        "llm_spend_cents": 12,
    }
    assert body["days"][-3]["inbound"] == 2 and body["days"][0]["inbound"] == 0
    assert body["limits"] == {
        "per_minute": settings.rate_limit_msg_per_min,
        "per_day": settings.rate_limit_msg_per_day,
        "proactive_per_day": settings.proactive_daily_cap,
        "google_tool_calls_per_minute": settings.google_tool_calls_per_minute,
    }
    assert body["google_calls"] == []
    assert body["credits"] == {"remaining_cents": 487, "total_cents": 500, "own_key": False}
    assert body["outbound"] == {"parts_today": 5, "parts_cap": settings.outbound_parts_daily_cap, "capped_until": None}

    month = (await client.get("/api/v1/usage", params={"days": 31}, headers=headers)).json()
    assert len(month["days"]) == 31 and month["days"][0]["inbound"] == 9

    # B sees B's numbers, never A's.
    theirs = (await client.get("/api/v1/usage", params={"days": 1}, headers=other_headers)).json()
    assert [d["inbound"] for d in theirs["days"]] == [77]
    assert theirs["credits"] == {"remaining_cents": 0, "total_cents": 0, "own_key": False}


async def test_usage_says_when_the_daily_message_cap_held_messages_back_and_when_they_go(client, sessions, settings):
    headers, user_id = await signed_up(client)
    today = await database_today(sessions)
    # Yesterday's cap is over: only today's counts.
    await _usage(sessions, user_id, today - timedelta(days=1), outbound_count=200, outbound_capped_at=func.now())
    await _usage(sessions, user_id, today, outbound_count=197)
    body = (await client.get("/api/v1/usage", headers=headers)).json()
    assert body["outbound"] == {
        "parts_today": 197,
        "parts_cap": settings.outbound_parts_daily_cap,
        "capped_until": None,
    }

    async with transaction(sessions) as s:
        await s.execute(
            update(UsageDaily)
            .where(UsageDaily.user_id == user_id, UsageDaily.day == today)
            .values(outbound_capped_at=func.now())
        )
        tomorrow = await s.scalar(text("SELECT (current_date + 1)::timestamptz"))
    body = (await client.get("/api/v1/usage", headers=headers)).json()
    assert body["outbound"]["parts_today"] == 197
    assert datetime.fromisoformat(body["outbound"]["capped_until"]) == tomorrow


@pytest.mark.parametrize("days", ["0", "91", "-1", "week"])
async def test_usage_days_out_of_range_is_4xx(client, days):
    headers, _ = await sign_in(client)
    response = await client.get("/api/v1/usage", params={"days": days}, headers=headers)
    assert 400 <= response.status_code < 500 and response.json()["code"] == "VALIDATION_ERROR"


async def test_spend_is_shown_per_day_model_and_purpose_and_only_ones_own(client, sessions):
    headers, user_id = await signed_up(client)
    _, other_id = await signed_up(client)
    today = await database_today(sessions)
    async with transaction(sessions) as s:
        for owner, day, model, purpose, millicents in (
            (user_id, today, "claude-sonnet-5", "reply", 2_500),
            (user_id, today, "claude-haiku-4-5-20251001", "heartbeat", 310),
            (user_id, today - timedelta(days=1), "claude-sonnet-5", "cron", 1_200),
            (user_id, today - timedelta(days=9), "claude-sonnet-5", "reply", 99_000),
            (other_id, today, "claude-opus-5", "reply", 777_000),
        ):
            s.add(
                LlmSpendDaily(
                    user_id=owner,
                    day=day,
                    model=model,
                    purpose=purpose,
                    own_key=False,
                    calls=2,
                    input_tokens=100,
                    output_tokens=10,
                    millicents=millicents,
                )
            )
    body = (await client.get("/api/v1/usage", headers=headers)).json()
    spend = [(r["day"], r["model_label"], r["purpose"], r["millicents"], r["calls"]) for r in body["spend"]]
    assert spend == [
        ((today - timedelta(days=1)).isoformat(), "Claude Sonnet 5", "cron", 1_200, 2),
        (today.isoformat(), "Claude Haiku 4.5", "heartbeat", 310, 2),
        (today.isoformat(), "Claude Sonnet 5", "reply", 2_500, 2),
    ]


async def test_only_the_assistants_own_messages_count_as_its_messages(client, sessions):
    from yourclaw.db.models import Message

    headers, user_id = await signed_up(client)
    async with transaction(sessions) as s:
        for kind in ("system", "reply", "reply", "proactive"):
            s.add(Message(user_id=user_id, direction="OUTBOUND", kind=kind, body=kind))
        s.add(Message(user_id=user_id, direction="INBOUND", kind="user", body="hi"))
    today = (await client.get("/api/v1/usage", headers=headers)).json()["days"][-1]
    # "You're all set" and the other notices are ours, not the assistant's.
    assert today["assistant_messages"] == 3


async def test_activity_lists_what_the_assistant_wrote_first_and_our_notices_about_it(client, sessions):
    from yourclaw.db.models import Outbox

    headers, user_id = await signed_up(client)
    other_headers, other_id = await signed_up(client)
    async with transaction(sessions) as s:
        s.add(Outbox(user_id=user_id, kind="system", body="Your assistant is ready! Say hi.", dedupe_key="ready:1:x"))
        s.add(Outbox(user_id=user_id, kind="reply", body="an answer"))
        s.add(Outbox(user_id=user_id, kind="system", body="You're all set", dedupe_key=None))
        s.add(Outbox(user_id=user_id, kind="proactive", body="Time to call the dentist! " * 20, status="SENT"))
        s.add(
            Outbox(user_id=user_id, kind="system", body="Heads up: $2.00 left", dedupe_key=f"low-credits:{user_id}:p")
        )
        s.add(Outbox(user_id=other_id, kind="proactive", body="theirs"))
    body = (await client.get("/api/v1/activity", headers=headers)).json()
    kinds = [item["kind"] for item in body["items"]]
    assert sorted(kinds) == ["credits_low", "proactive", "ready"]
    dentist = next(i for i in body["items"] if i["kind"] == "proactive")
    assert dentist["preview"].startswith("Time to call the dentist!") and len(dentist["preview"]) <= 140
    assert dentist["status"] == "SENT"
    theirs = (await client.get("/api/v1/activity", headers=other_headers)).json()
    assert [i["preview"] for i in theirs["items"]] == ["theirs"]
    assert (await client.get("/api/v1/activity", params={"limit": 0}, headers=headers)).status_code in (400, 422)
