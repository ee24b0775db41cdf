"""The dashboard's conversation view: the signed-in user's own messages only, paginated."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, update

from tests.harness.rows import sign_in, signed_up
from yourclaw.db.engine import transaction
from yourclaw.db.models import Message

pytestmark = pytest.mark.db


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


async def test_the_conversation_needs_a_signed_in_user(client):
    response = await client.get("/api/v1/messages")
    assert response.status_code == 401 and response.json()["code"] == "NOT_AUTHENTICATED"


async def test_messages_newest_first_paginated_and_only_ones_own(client, sessions):
    headers, user_id = await signed_up(client)
    other_headers, other_id = await signed_up(client)
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
    headers, user_id = await signed_up(client)
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


async def test_typing_from_hand_off_until_the_reply_is_sent(client, sessions):
    from yourclaw.db.models import InboundMessage, Outbox

    headers, user_id = await signed_up(client)
    _, other_id = await signed_up(client)

    async def typing() -> bool:
        return (await client.get("/api/v1/messages", headers=headers)).json()["assistant_typing"]

    assert await typing() is False
    async with transaction(sessions) as s:
        queued = InboundMessage(
            user_id=user_id, message_sid="SM" + uuid.uuid4().hex, from_phone="+15550001111", body="hi", status="QUEUED"
        )
        # Someone else's assistant at work says nothing about this user's.
        theirs = InboundMessage(
            user_id=other_id,
            message_sid="SM" + uuid.uuid4().hex,
            from_phone="+15550001112",
            body="hi",
            status="LEASED",
            lease_until=func.now() + timedelta(minutes=1),
        )
        s.add_all([queued, theirs])
    assert await typing() is False  # queued, not handed out yet
    async with transaction(sessions) as s:
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == queued.id)
            .values(status="LEASED", lease_until=func.now() + timedelta(minutes=1), leased_at=func.now())
        )
    assert await typing() is True  # handed out: the assistant is on it
    async with transaction(sessions) as s:
        await s.execute(update(InboundMessage).where(InboundMessage.id == queued.id).values(status="DONE"))
        reply = Outbox(user_id=user_id, kind="reply", body="hello")
        s.add(reply)
    assert await typing() is True  # acked, its reply still on the way
    async with transaction(sessions) as s:
        await s.execute(update(Outbox).where(Outbox.id == reply.id).values(status="SENT"))
    assert await typing() is False
