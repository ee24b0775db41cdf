"""The dashboard's usage and conversation views: the signed-in user's own rows only, paginated."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from tests.harness.rows import sign_in
from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.db.models import Message, UsageDaily

pytestmark = pytest.mark.db


async def account(client) -> tuple[dict[str, str], uuid.UUID]:
    """Signed in, and the user row exists (the first authenticated request makes it)."""
    headers, user_id = await sign_in(client)
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    return headers, user_id


async def _today(sessions) -> date:
    async with sessions() as s:
        return await s.scalar(select(func.current_date()))


async def _usage(sessions, user_id, day: date, **counts) -> None:
    async with transaction(sessions) as s:
        s.add(UsageDaily(user_id=user_id, day=day, **counts))


async def _conversation(sessions, user_id, bodies: list[str]) -> list[uuid.UUID]:
    """Oldest first, a second apart (parts of one reply may share a timestamp; see the tie test)."""
    ids = []
    async with transaction(sessions) as s:
        for index, body in enumerate(bodies):
            message = Message(
                user_id=user_id, direction="INBOUND" if index % 2 == 0 else "OUTBOUND", kind="user", body=body
            )
            s.add(message)
            await s.flush()
            offset = timedelta(seconds=len(bodies) - index)
            await s.execute(update(Message).where(Message.id == message.id).values(created_at=func.now() - offset))
            ids.append(message.id)
    return ids


async def test_usage_is_per_day_zero_filled_with_limits_and_credits(client, sessions, settings):
    headers, user_id = await account(client)
    other_headers, other_id = await account(client)
    today = await _today(sessions)
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
        "proactive": 1,
        "llm_spend_cents": 12,
    }
    assert body["days"][-3]["inbound"] == 2 and body["days"][0]["inbound"] == 0
    assert body["limits"] == {
        "per_minute": settings.rate_limit_msg_per_min,
        "per_day": settings.rate_limit_msg_per_day,
        "proactive_per_day": settings.proactive_daily_cap,
    }
    assert body["credits"] == {"remaining_cents": 487, "own_key": False}
    assert body["outbound"] == {"parts_today": 5, "parts_cap": settings.outbound_parts_daily_cap, "capped_until": None}

    month = (await client.get("/api/v1/usage", params={"days": 31}, headers=headers)).json()
    assert len(month["days"]) == 31 and month["days"][0]["inbound"] == 9

    # B sees B's numbers, never A's.
    theirs = (await client.get("/api/v1/usage", params={"days": 1}, headers=other_headers)).json()
    assert [d["inbound"] for d in theirs["days"]] == [77]
    assert theirs["credits"] == {"remaining_cents": 0, "own_key": False}


async def test_usage_says_when_the_daily_message_cap_held_messages_back_and_when_they_go(client, sessions, settings):
    headers, user_id = await account(client)
    today = await _today(sessions)
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


async def test_views_need_a_signed_in_user(client):
    for path in ("/api/v1/usage", "/api/v1/messages"):
        response = await client.get(path)
        assert response.status_code == 401 and response.json()["code"] == "NOT_AUTHENTICATED"


async def test_messages_newest_first_paginated_and_only_ones_own(client, sessions):
    headers, user_id = await account(client)
    other_headers, other_id = await account(client)
    mine = await _conversation(sessions, user_id, [f"mine {i}" for i in range(5)])
    theirs = await _conversation(sessions, other_id, ["theirs 0", "theirs 1"])

    first = (await client.get("/api/v1/messages", params={"limit": 2}, headers=headers)).json()
    assert [m["body"] for m in first["messages"]] == ["mine 4", "mine 3"]
    assert set(first["messages"][0]) == {"id", "direction", "kind", "body", "delivery_status", "created_at"}
    assert first["next_before"] == str(mine[3])
    second = (
        await client.get("/api/v1/messages", params={"limit": 2, "before": first["next_before"]}, headers=headers)
    ).json()
    assert [m["body"] for m in second["messages"]] == ["mine 2", "mine 1"]
    last = (
        await client.get("/api/v1/messages", params={"limit": 2, "before": second["next_before"]}, headers=headers)
    ).json()
    assert [m["body"] for m in last["messages"]] == ["mine 0"] and last["next_before"] is None

    everything = (await client.get("/api/v1/messages", headers=headers)).json()
    assert [m["body"] for m in everything["messages"]] == [f"mine {i}" for i in reversed(range(5))]

    # Another user's message is not a cursor into this conversation, nor a way to peek at theirs.
    peek = await client.get("/api/v1/messages", params={"before": str(theirs[1])}, headers=headers)
    assert peek.status_code == 404 and peek.json()["code"] == "UNKNOWN_CURSOR"
    other_view = (await client.get("/api/v1/messages", headers=other_headers)).json()
    assert [m["body"] for m in other_view["messages"]] == ["theirs 1", "theirs 0"]


async def test_messages_with_the_same_timestamp_page_without_gaps(client, sessions):
    headers, user_id = await account(client)
    async with transaction(sessions) as s:
        # One transaction, one now(): the parts of one long reply.
        s.add_all(Message(user_id=user_id, direction="OUTBOUND", kind="reply", body=f"part {i}") for i in range(7))
    seen, before = [], None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        page = (await client.get("/api/v1/messages", params=params, headers=headers)).json()
        seen += [m["id"] for m in page["messages"]]
        before = page["next_before"]
        if before is None:
            break
    assert len(seen) == 7 and len(set(seen)) == 7


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"before": "not-a-uuid"}])
async def test_messages_bad_paging_is_4xx(client, params):
    headers, _ = await sign_in(client)
    response = await client.get("/api/v1/messages", params=params, headers=headers)
    assert 400 <= response.status_code < 500 and response.json()["code"] == "VALIDATION_ERROR"
