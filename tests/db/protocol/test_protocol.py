"""The assistant protocol beyond the poll, on the real app and PostgreSQL: extend and ack (only for the
token's user), outbound messages by idempotency key, media uploads and the signed public media URL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from tests.harness.assistant_protocol import (
    INBOUND,
    Owner,
    Served,
    ack,
    inbound_row,
    make_owner,
    only_message,
    poll,
    poll_headers,
    queue_message,
    serve,
)
from tests.harness.settings import make_settings
from yourclaw.db import channels
from yourclaw.db.models import Assistant, InboundMessage, Media, Outbox
from yourclaw.protocol import media_urls
from yourclaw.protocol.media_repository import MEDIA_RETENTION

pytestmark = pytest.mark.db

OUTBOUND = "/api/v1/runtime/outbound"
MEDIA = "/api/v1/runtime/media"
MEDIA_CAP = 1000


@pytest.fixture
async def served(database_url, db) -> AsyncIterator[Served]:
    async with serve(make_settings(database_url, MEDIA_MAX_BYTES=str(MEDIA_CAP))) as served:
        yield served


@pytest.fixture
async def alice(sessions) -> Owner:
    return await make_owner(sessions)


@pytest.fixture
async def bob(sessions) -> Owner:
    return await make_owner(sessions)


async def send(served: Served, owner: Owner, key: str | None, **body) -> object:
    headers = dict(owner.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await served.http.post(OUTBOUND, json={"kind": "reply", "text": "hi"} | body, headers=headers)


async def outbox_rows(sessions, user_id: uuid.UUID | None = None) -> list[Outbox]:
    async with sessions() as s:
        stmt = select(Outbox).order_by(Outbox.id)
        if user_id is not None:
            stmt = stmt.where(Outbox.user_id == user_id)
        return list((await s.scalars(stmt)).all())


async def upload(served: Served, owner: Owner, data: bytes, content_type: str | None = "image/png") -> object:
    headers = dict(owner.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await served.http.post(MEDIA, content=data, headers=headers)


def error_code(response) -> str:
    body = response.json()
    assert body["detail"]
    return body["code"]


# --- extend and ack ---------------------------------------------------------------------------------


async def test_every_runtime_route_wants_the_assistant_token(served):
    some_id = uuid.uuid4()
    for path in (f"{INBOUND}/{some_id}/extend", f"{INBOUND}/{some_id}/ack", OUTBOUND, MEDIA):
        for headers in ({}, {"Authorization": "Bearer yca_not-a-token"}):
            response = await served.http.post(path, headers=headers | {"Idempotency-Key": "k"}, json={})
            assert response.status_code == 401, (path, response.text)
            assert error_code(response) == "INVALID_ASSISTANT_TOKEN"


async def test_ack_is_idempotent_and_only_for_handed_out_messages(served, sessions, alice):
    unknown = await ack(served.http, alice, uuid.uuid4())
    assert unknown.status_code == 404 and error_code(unknown) == "MESSAGE_NOT_FOUND"

    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    early = await ack(served.http, alice, message_id)
    assert early.status_code == 409 and error_code(early) == "MESSAGE_NOT_LEASED"

    assert only_message(await poll(served.http, alice))["id"] == str(message_id)
    assert (await ack(served.http, alice, message_id)).status_code == 204
    acked_at = (await inbound_row(sessions, message_id)).acked_at
    assert (await ack(served.http, alice, message_id)).status_code == 204
    row = await inbound_row(sessions, message_id)
    assert (row.status, row.acked_at) == ("DONE", acked_at)


async def test_extend_is_for_the_instance_holding_the_lease(served, sessions, alice):
    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    assert only_message(await poll(served.http, alice, instance="inst-a"))["id"] == str(message_id)
    extend = f"{INBOUND}/{message_id}/extend"

    # The plugin need not say which instance it is: the assistant's current one holds the lease.
    async with sessions() as s:
        polled_at = await s.scalar(select(Assistant.last_poll_at).where(Assistant.user_id == alice.user_id))
    assert (await served.http.post(extend, headers=alice.headers)).status_code == 204
    # A long turn polls for nothing meanwhile: renewing its lease is the sign the instance is alive.
    async with sessions() as s:
        assert await s.scalar(select(Assistant.last_poll_at).where(Assistant.user_id == alice.user_id)) > polled_at
    assert (await served.http.post(extend, headers=poll_headers(alice, "inst-a"))).status_code == 204
    other = await served.http.post(extend, headers=poll_headers(alice, "inst-x"))
    assert other.status_code == 409 and error_code(other) == "LEASE_NOT_HELD"

    # A newer container takes over: the old one's turn no longer keeps the message from it.
    assert (await poll(served.http, alice, instance="inst-b")).status_code == 204
    for headers in (alice.headers, poll_headers(alice, "inst-a")):
        stale = await served.http.post(extend, headers=headers)
        assert stale.status_code == 409 and error_code(stale) == "LEASE_NOT_HELD"
    # Its ack still counts: the replies of that turn were stored before it.
    assert (await ack(served.http, alice, message_id)).status_code == 204

    missing = await served.http.post(f"{INBOUND}/{uuid.uuid4()}/extend", headers=alice.headers)
    assert missing.status_code == 404 and error_code(missing) == "MESSAGE_NOT_FOUND"


async def test_one_users_token_cannot_touch_another_users_messages(served, sessions, alice, bob):
    queued = await queue_message(sessions, alice.user_id, "for alice only", notify=False)
    # Bob's assistant polls: Alice's queue is not his.
    assert (await poll(served.http, bob, instance="inst-b")).status_code == 204
    assert (await inbound_row(sessions, queued)).status == "QUEUED"

    assert only_message(await poll(served.http, alice))["id"] == str(queued)
    for action in ("ack", "extend"):
        response = await served.http.post(f"{INBOUND}/{queued}/{action}", headers=bob.headers)
        assert response.status_code == 404 and error_code(response) == "MESSAGE_NOT_FOUND"
    row = await inbound_row(sessions, queued)
    assert (row.status, row.acked_at) == ("LEASED", None)

    # What Bob sends is Bob's: there is no field to address anyone else.
    assert (await send(served, bob, "k1", text="from bob", to=str(alice.user_id))).status_code == 202
    assert await outbox_rows(sessions, alice.user_id) == []
    assert [r.body for r in await outbox_rows(sessions, bob.user_id)] == ["from bob"]


# --- outbound ---------------------------------------------------------------------------------------


async def test_the_same_idempotency_key_stores_one_message(served, sessions, alice):
    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    assert only_message(await poll(served.http, alice))["id"] == str(message_id)
    key = f"{message_id}:0"
    responses = [await send(served, alice, key, text="echo: hi", in_reply_to=str(message_id)) for _ in range(3)]
    assert [r.status_code for r in responses] == [202] * 3
    assert len({r.json()["id"] for r in responses}) == 1
    assert {r.json()["kind"] for r in responses} == {"reply"}

    (row,) = await outbox_rows(sessions)
    assert row.id == responses[0].json()["id"]
    assert (row.user_id, row.kind, row.body, row.idempotency_key, row.in_reply_to, row.status) == (
        alice.user_id,
        "reply",
        "echo: hi",
        key,
        message_id,
        "PENDING",
    )


async def test_concurrent_retries_with_one_key_store_one_message(served, sessions, alice):
    responses = await asyncio.gather(*(send(served, alice, "same", kind="proactive", text="ping") for _ in range(6)))
    assert [r.status_code for r in responses] == [202] * 6
    assert len({r.json()["id"] for r in responses}) == 1
    assert [(r.kind, r.body) for r in await outbox_rows(sessions)] == [("proactive", "ping")]


async def test_a_key_reused_for_another_message_is_409(served, sessions, alice, bob):
    assert (await send(served, alice, "k", text="first")).status_code == 202
    for changed in ({"text": "second"}, {"text": "first", "kind": "proactive"}):
        reused = await send(served, alice, "k", **changed)
        assert reused.status_code == 409 and error_code(reused) == "IDEMPOTENCY_KEY_REUSED"
    # Keys are per user: Bob's "k" is his own.
    assert (await send(served, bob, "k", text="second")).status_code == 202
    assert len(await outbox_rows(sessions)) == 2


async def test_outbound_requests_that_are_wrong_are_refused_with_a_code(served, sessions, alice):
    cases = [
        (None, {}, 422, "IDEMPOTENCY_KEY_REQUIRED"),
        ("   ", {}, 422, "IDEMPOTENCY_KEY_REQUIRED"),
        ("k" * 201, {}, 422, "IDEMPOTENCY_KEY_TOO_LONG"),
        ("k1", {"text": "x" * 20_001}, 413, "TEXT_TOO_LONG"),
        ("k2", {"text": "  "}, 422, "EMPTY_MESSAGE"),
        ("k3", {"kind": "system"}, 422, "VALIDATION_ERROR"),
        ("k4", {"text": None}, 422, "VALIDATION_ERROR"),
        ("k5", {"media_id": str(uuid.uuid4())}, 422, "UNKNOWN_MEDIA"),
    ]
    for key, body, status, code in cases:
        response = await send(served, alice, key, **body)
        assert (response.status_code, error_code(response)) == (status, code), (key, body, response.text)
    assert await outbox_rows(sessions) == []

    assert (await send(served, alice, "k" * 200, text="x" * 20_000)).status_code == 202
    # An in_reply_to that is not one of the user's messages is not a reason to lose a reply.
    assert (await send(served, alice, "k6", in_reply_to="not-a-message")).status_code == 202
    assert [r.in_reply_to for r in await outbox_rows(sessions)] == [None, None]


async def test_a_reply_is_granted_only_for_a_message_handed_out_within_the_window(served, sessions, alice, bob):
    handed_out = await queue_message(sessions, alice.user_id, "first", notify=False)
    assert only_message(await poll(served.http, alice))["id"] == str(handed_out)
    waiting = await queue_message(sessions, alice.user_id, "second, not handed out yet", notify=False)
    bobs = await queue_message(sessions, bob.user_id, "bob's", notify=False)
    assert only_message(await poll(served.http, bob, instance="inst-b"))["id"] == str(bobs)

    cases = [
        ("genuine", str(handed_out), "reply", handed_out),
        ("none", None, "proactive", None),
        ("not-handed-out", str(waiting), "proactive", waiting),
        ("someone-elses", str(bobs), "proactive", None),
        ("not-a-message", "not-a-message", "proactive", None),
        ("unknown", str(uuid.uuid4()), "proactive", None),
    ]
    for key, in_reply_to, granted, kept in cases:
        body = {"text": f"answer {key}"} | ({"in_reply_to": in_reply_to} if in_reply_to else {})
        response = await send(served, alice, key, **body)
        assert response.status_code == 202 and response.json()["kind"] == granted, key
        row = next(r for r in await outbox_rows(sessions, alice.user_id) if r.idempotency_key == key)
        assert (row.kind, row.requested_kind, row.in_reply_to) == (granted, "reply", kept), key

    # An hour after the hand-out the turn is long over: an answer to it is the assistant speaking first.
    async with sessions() as s:
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == handed_out)
            .values(leased_at=func.now() - timedelta(seconds=3601))
        )
        await s.commit()
    late = await send(served, alice, "late", text="late answer", in_reply_to=str(handed_out))
    assert late.json()["kind"] == "proactive"

    # Retries compare what was asked, so an identical one is accepted whenever it comes, as what was granted.
    genuine_again = await send(served, alice, "genuine", text="answer genuine", in_reply_to=str(handed_out))
    assert genuine_again.status_code == 202 and genuine_again.json()["kind"] == "reply"
    none_again = await send(served, alice, "none", text="answer none")
    assert none_again.status_code == 202 and none_again.json()["kind"] == "proactive"
    as_proactive = await send(served, alice, "none", text="answer none", kind="proactive")
    assert as_proactive.status_code == 409 and error_code(as_proactive) == "IDEMPOTENCY_KEY_REUSED"
    assert len(await outbox_rows(sessions, alice.user_id)) == len(cases) + 1


async def test_outbound_media_must_be_the_users_own(served, sessions, alice, bob):
    bobs = (await upload(served, bob, b"bob's picture")).json()["media_id"]
    refused = await send(served, alice, "k", text="look", media_id=bobs)
    assert refused.status_code == 422 and error_code(refused) == "UNKNOWN_MEDIA"

    alices = (await upload(served, alice, b"alice's picture")).json()["media_id"]
    assert (await send(served, alice, "k", text="look", media_id=alices)).status_code == 202
    # A picture alone (no caption) is a message too.
    assert (await send(served, alice, "k2", text="", media_id=alices)).status_code == 202
    assert [(r.body, str(r.media_id)) for r in await outbox_rows(sessions)] == [("look", alices), ("", alices)]


async def test_a_stored_message_wakes_the_sender(served, database_url, alice):
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(channels.OUTBOX, lambda *args: received.put_nowait(args[3]))
    try:
        assert (await send(served, alice, "k", text="hi")).status_code == 202
        assert await asyncio.wait_for(received.get(), 5) == str(alice.user_id)
        # A retry stores nothing, so wakes nothing: the marker comes first.
        assert (await send(served, alice, "k", text="hi")).status_code == 202
        await conn.execute("SELECT pg_notify($1, 'marker')", channels.OUTBOX)
        assert await asyncio.wait_for(received.get(), 5) == "marker"
    finally:
        await conn.close()


# --- media ------------------------------------------------------------------------------------------


async def test_uploaded_media_is_served_through_a_signed_url(served, sessions, alice):
    data = bytes(range(256)) * 3
    response = await upload(served, alice, data, "image/png")
    assert response.status_code == 201, response.text
    media_id = uuid.UUID(response.json()["media_id"])
    async with sessions() as s:
        row = await s.scalar(select(Media).where(Media.id == media_id))
        assert (row.user_id, row.source, row.content_type, row.size, row.data) == (
            alice.user_id,
            "outbound",
            "image/png",
            len(data),
            data,
        )
        assert row.expires_at - row.created_at == MEDIA_RETENTION

    settings = served.state.settings
    url = media_urls.signed_url(settings, media_id, 60)
    assert url.startswith(settings.api_url + "/api/v1/media/")  # what Twilio reaches
    parts = urlsplit(url)
    fetched = await served.http.get(f"{parts.path}?{parts.query}")  # no token: the signature is the permission
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["x-content-type-options"] == "nosniff"


async def test_bad_or_expired_media_urls_are_403(served, alice):
    media_id = uuid.UUID((await upload(served, alice, b"secret picture")).json()["media_id"])
    settings = served.state.settings
    good = urlsplit(media_urls.signed_url(settings, media_id, 60))
    query = parse_qs(good.query)
    expires, sig = query["expires"][0], query["sig"][0]

    expired = urlsplit(media_urls.signed_url(settings, media_id, 60, now=1_000_000))
    response = await served.http.get(f"{expired.path}?{expired.query}")
    assert response.status_code == 403 and error_code(response) == "MEDIA_URL_EXPIRED"

    other_key = make_settings("postgresql://x@127.0.0.1/x", ENCRYPTION_KEY=Fernet.generate_key().decode())
    foreign = urlsplit(media_urls.signed_url(other_key, media_id, 60))
    bad = [
        f"{good.path}",
        f"{good.path}?expires={expires}",
        f"{good.path}?sig={sig}",
        f"{good.path}?expires={int(expires) + 3600}&sig={sig}",  # a longer life is not ours to grant
        f"{good.path}?expires={expires}&sig={sig[:-2]}xx",
        f"{good.path}?expires=soon&sig={sig}",
        f"{good.path}?expires={expires}&sig=%C3%A9t%C3%A9",
        f"/api/v1/media/{uuid.uuid4()}?expires={expires}&sig={sig}",  # another item with this one's signature
        f"{foreign.path}?{foreign.query}",
    ]
    for path in bad:
        response = await served.http.get(path)
        assert response.status_code == 403, path
        assert error_code(response) == "MEDIA_URL_INVALID"
        assert b"secret picture" not in response.content

    gone = urlsplit(media_urls.signed_url(settings, uuid.uuid4(), 60))
    response = await served.http.get(f"{gone.path}?{gone.query}")
    assert response.status_code == 404 and error_code(response) == "MEDIA_NOT_FOUND"


async def test_media_uploads_are_capped_and_typed(served, sessions, alice):
    too_big = await upload(served, alice, b"x" * (MEDIA_CAP + 1))
    assert too_big.status_code == 413 and error_code(too_big) == "MEDIA_TOO_LARGE"

    async def chunks():
        for _ in range(4):
            yield b"y" * 300  # no Content-Length: counted as it arrives

    streamed = await served.http.post(MEDIA, content=chunks(), headers=alice.headers | {"Content-Type": "video/mp4"})
    assert streamed.status_code == 413 and error_code(streamed) == "MEDIA_TOO_LARGE"

    for content_type in (None, "", "not a type", "image/" + "x" * 100):
        response = await upload(served, alice, b"data", content_type)
        assert response.status_code == 422 and error_code(response) == "INVALID_CONTENT_TYPE", content_type
    empty = await upload(served, alice, b"")
    assert empty.status_code == 422 and error_code(empty) == "EMPTY_MEDIA"
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Media)) == 0

    exactly = await upload(served, alice, b"z" * MEDIA_CAP, "text/plain; charset=utf-8")
    assert exactly.status_code == 201


def test_signed_urls_survive_a_key_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = make_settings("postgresql://x@127.0.0.1/x", ENCRYPTION_KEY=old)
    after = make_settings("postgresql://x@127.0.0.1/x", ENCRYPTION_KEY=f"{new},{old}")
    retired = make_settings("postgresql://x@127.0.0.1/x", ENCRYPTION_KEY=new)
    media_id = uuid.uuid4()
    query = parse_qs(urlsplit(media_urls.signed_url(before, media_id, 60, now=1000)).query)
    expires, sig = int(query["expires"][0]), query["sig"][0]
    assert expires == 1060
    assert media_urls.verify(before, media_id, expires, sig, now=1059) == "valid"
    assert media_urls.verify(before, media_id, expires, sig, now=1060) == "expired"
    assert media_urls.verify(after, media_id, expires, sig, now=1000) == "valid"
    assert media_urls.verify(retired, media_id, expires, sig, now=1000) == "invalid"
    assert media_urls.verify(before, uuid.uuid4(), expires, sig, now=1000) == "invalid"
