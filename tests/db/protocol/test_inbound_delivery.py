"""Inbound delivery on the real app and PostgreSQL: the long poll hands out queued messages, woken by the
one LISTEN connection, one in flight per user and in order, leases that lapse and are renewed, media
fetched from Twilio once and offered through our signed URLs, shutdown, and the stand-in assistant end
to end. Messages are inserted as the router leaves them: QUEUED, then a notification."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

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
from tests.harness.live_server import LiveServer
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer, InboundMessage, Media, Outbox
from yourclaw.protocol import media_repository
from yourclaw.protocol import repository as inbound_queue
from yourclaw.standins.assistant import StandinAssistant

pytestmark = pytest.mark.db

# Far under the polls' 20-30 s waits: the hand-out came from the notification (or the look before waiting),
# not from a wait running out. How fast it is belongs to bench/webhook.py, not to a timed test on a busy machine.
HANDOFF_BUDGET = 5.0


def idle_wait(served: Served, owner: Owner, polls: int) -> bool:
    """`polls` polls of the user wait, and the app's pool has no connection out: they hold none."""
    return served.state.inbound.waiting(owner.user_id) == polls and served.state.engine.pool.checkedout() == 0


@pytest.fixture
async def served(settings, db) -> AsyncIterator[Served]:
    async with serve(settings) as served:
        yield served


@pytest.fixture
async def short_lease(database_url, db) -> AsyncIterator[Served]:
    async with serve(make_settings(database_url, INBOUND_LEASE_SECONDS="1")) as served:
        yield served


@pytest.fixture
async def alice(sessions) -> Owner:
    return await make_owner(sessions, "alice@example.com")


async def test_a_waiting_poll_gets_a_new_message_within_milliseconds(served, sessions, alice):
    waiting = asyncio.create_task(poll(served.http, alice, wait=20))
    # Waiting costs no database connection: the app's pool has none out.
    await wait_for(lambda: idle_wait(served, alice, 1), message="the poll to wait")

    loop = asyncio.get_running_loop()
    started = loop.time()
    message_id = await queue_message(sessions, alice.user_id, "hello there")
    response = await asyncio.wait_for(waiting, 10)
    latency = loop.time() - started
    print(f"\nhand-off latency (insert + commit + NOTIFY -> 200): {latency * 1000:.1f} ms")
    assert latency < HANDOFF_BUDGET, latency

    message = only_message(response)
    assert message["id"] == str(message_id)
    assert message["from"] == str(alice.user_id)
    assert message["text"] == "hello there" and message["media"] == []
    assert datetime.fromisoformat(message["received_at"]).tzinfo is not None
    assert "+15550001111" not in response.text  # the user's id, never the phone

    row = await inbound_row(sessions, message_id)
    assert (row.status, row.deliveries, row.lease_instance) == ("LEASED", 1, "inst-a")
    assert row.lease_until is not None


async def test_a_message_queued_before_the_poll_is_handed_out_at_once(served, sessions, alice):
    message_id = await queue_message(sessions, alice.user_id, "already here", notify=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    message = only_message(await poll(served.http, alice, wait=20))
    assert message["id"] == str(message_id) and loop.time() - started < HANDOFF_BUDGET


async def test_one_message_in_flight_per_user_and_the_other_poll_waits(served, sessions, alice):
    first = await queue_message(sessions, alice.user_id, "one", notify=False)
    second = await queue_message(sessions, alice.user_id, "two", notify=False)

    # One poll after the other: two at once would race for "newest poll wins", which ends the older one.
    assert only_message(await poll(served.http, alice, wait=20))["id"] == str(first)
    other = asyncio.create_task(poll(served.http, alice, wait=20))
    # The other one waits (not a second message, not an early 204) while the first is in flight.
    await wait_for(lambda: idle_wait(served, alice, 1), message="the other poll to wait")
    assert not other.done()

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await ack(served.http, alice, first)).status_code == 204
    assert only_message(await asyncio.wait_for(other, 10))["id"] == str(second)
    assert loop.time() - started < HANDOFF_BUDGET


async def test_concurrent_hand_outs_of_one_user_lease_one_message(served, sessions, alice):
    """Straight at the SQL: many transactions at once, one lease."""
    for text in ("a", "b", "c"):
        await queue_message(sessions, alice.user_id, text, notify=False)

    async def attempt(n: int) -> inbound_queue.Take:
        async with transaction(served.state.sessions) as session:
            return await inbound_queue.hand_out(session, alice.user_id, instance_id=f"i{n}", lease_seconds=60)

    takes = await asyncio.gather(*(attempt(n) for n in range(8)))
    handed = [t.message for t in takes if t.message is not None]
    assert [m.body for m in handed] == ["a"]
    # The others were told how long the one in flight holds the queue (about the lease).
    assert all(t.busy_for and 0 < t.busy_for <= 60 for t in takes if t.message is None)
    async with sessions() as s:
        statuses = (await s.scalars(select(InboundMessage.status).order_by(InboundMessage.received_at))).all()
    assert statuses == ["LEASED", "QUEUED", "QUEUED"]


async def test_messages_come_in_order_and_ack_lets_the_next_go(served, sessions, alice):
    ids = [await queue_message(sessions, alice.user_id, f"m{i}") for i in range(4)]
    seen = []
    for _ in ids:
        message = only_message(await poll(served.http, alice, wait=5))
        seen.append(message["id"])
        # Not acked yet: nothing else is handed out.
        assert (await poll(served.http, alice, wait=0)).status_code == 204
        assert (await ack(served.http, alice, message["id"])).status_code == 204
    assert seen == [str(i) for i in ids]
    assert (await poll(served.http, alice, wait=0)).status_code == 204
    rows = [await inbound_row(sessions, i) for i in ids]
    assert {(r.status, r.deliveries) for r in rows} == {("DONE", 1)}
    assert all(r.acked_at is not None for r in rows)


async def test_an_unacked_message_is_offered_again_when_its_lease_lapses(short_lease, sessions, alice):
    served = short_lease
    message_id = await queue_message(sessions, alice.user_id, "are you there?")
    assert only_message(await poll(served.http, alice, wait=5))["id"] == str(message_id)

    # The waiting poll ends its wait when the lease in flight runs out, not at the end of its wait.
    loop = asyncio.get_running_loop()
    started = loop.time()
    again = only_message(await poll(served.http, alice, wait=20))
    elapsed = loop.time() - started
    assert again["id"] == str(message_id) and 0.5 < elapsed < 5, elapsed
    row = await inbound_row(sessions, message_id)
    assert (row.status, row.deliveries) == ("LEASED", 2)

    assert (await ack(served.http, alice, message_id)).status_code == 204
    assert (await inbound_row(sessions, message_id)).status == "DONE"


async def test_extending_the_lease_keeps_the_message(database_url, db, sessions, alice):
    async with serve(make_settings(database_url, INBOUND_LEASE_SECONDS="2")) as served:
        message_id = await queue_message(sessions, alice.user_id, "slow 4")
        assert only_message(await poll(served.http, alice, wait=5))["id"] == str(message_id)
        first_lease = (await inbound_row(sessions, message_id)).lease_until

        loop = asyncio.get_running_loop()
        started = loop.time()
        rival = asyncio.create_task(poll(served.http, alice, wait=10))
        # A 4 s turn renews its 2 s lease as it goes; the pace is the point here, not a synchronisation.
        while loop.time() - started < 4:
            response = await served.http.post(f"{INBOUND}/{message_id}/extend", headers=poll_headers(alice))
            assert response.status_code == 204, response.text
            await asyncio.sleep(0.5)
        assert not rival.done()
        assert (await inbound_row(sessions, message_id)).lease_until > first_lease + timedelta(seconds=3)

        # The ack frees the queue; with nothing left the rival answers at once.
        assert (await ack(served.http, alice, message_id)).status_code == 204
        assert (await asyncio.wait_for(rival, 2)).status_code == 204
        row = await inbound_row(sessions, message_id)
        assert (row.status, row.deliveries) == ("DONE", 1)


async def test_shutdown_makes_waiting_polls_answer_at_once(served, sessions, alice):
    bob = await make_owner(sessions)
    waiter = served.state.inbound
    polls = [
        asyncio.create_task(poll(served.http, alice, wait=30)),
        asyncio.create_task(poll(served.http, bob, wait=30, instance="inst-b")),
    ]
    await wait_for(lambda: waiter.waiting() == 2, message="the polls to wait")
    loop = asyncio.get_running_loop()
    started = loop.time()
    served.app.state.drain()
    responses = await asyncio.wait_for(asyncio.gather(*polls), 10)
    assert [r.status_code for r in responses] == [204, 204]
    assert loop.time() - started < HANDOFF_BUDGET

    # Stopping: nothing more is handed out (it would be lost with the connection).
    message_id = await queue_message(sessions, alice.user_id, "too late")
    assert (await poll(served.http, alice, wait=30)).status_code == 204
    assert (await inbound_row(sessions, message_id)).status == "QUEUED"


async def test_the_listener_reconnects_after_losing_its_connection(served, sessions, alice):
    listener = served.state.listener
    first_pid = listener.server_pid
    async with sessions() as s:
        assert await s.scalar(select(func.pg_terminate_backend(first_pid)))
    await wait_for(lambda: listener.connected and listener.server_pid != first_pid, message="a new LISTEN connection")

    waiting = asyncio.create_task(poll(served.http, alice, wait=20))
    await wait_for(lambda: idle_wait(served, alice, 1), message="the poll to wait")
    loop = asyncio.get_running_loop()
    started = loop.time()
    message_id = await queue_message(sessions, alice.user_id, "still listening?")
    assert only_message(await asyncio.wait_for(waiting, 10))["id"] == str(message_id)
    assert loop.time() - started < HANDOFF_BUDGET


# --- media from Twilio ------------------------------------------------------------------------------


class TwilioMedia:
    """A tiny stand-in for Twilio's media URLs: basic auth required, one picture, one oversized file, and
    a record of every request's Authorization header."""

    def __init__(self, sid: str, token: str, picture: bytes, big: bytes) -> None:
        self.expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        self.files = {"/picture": (picture, "image/jpeg"), "/big": (big, "video/mp4")}
        self.authorizations: list[str | None] = []
        media = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                media.authorizations.append(self.headers.get("Authorization"))
                path = self.path.split("/Media")[-1]
                if self.headers.get("Authorization") != media.expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                data, content_type = media.files.get(path, (b"", ""))
                if not data:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/2010-04-01/Accounts/AC1/Messages/MM1/Media{name}"

    def __enter__(self) -> TwilioMedia:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_twilio_media_is_fetched_once_with_basic_auth_and_offered_as_our_signed_url(
    database_url, db, sessions, alice
):
    sid, token = "AC" + "1" * 32, "twilio-secret-token-value"
    picture = b"\xff\xd8\xff" + bytes(range(256)) * 4
    settings = make_settings(
        database_url,
        TWILIO_ACCOUNT_SID=sid,
        TWILIO_AUTH_TOKEN=token,
        MEDIA_MAX_BYTES="2000",
        INBOUND_LEASE_SECONDS="1",
        RUNTIME_API_URL="http://assistants.internal:8000",
        TWILIO_MEDIA_HOSTS="127.0.0.1",
    )
    with TwilioMedia(sid, token, picture, big=b"x" * 2001) as twilio:
        media = [
            {"url": twilio.url("/picture"), "content_type": "image/jpeg"},
            {"url": twilio.url("/big"), "content_type": "video/mp4"},
        ]
        async with serve(settings) as served:
            message_id = await queue_message(sessions, alice.user_id, "look", media=media)
            response = await poll(served.http, alice, wait=5)
            message = only_message(response)

            # Twilio was asked with our credentials, and nothing of Twilio's reaches the assistant.
            assert twilio.authorizations == [twilio.expected, twilio.expected]
            for secret in (token, sid, "127.0.0.1", "/Media", "Basic "):
                assert secret not in response.text
            (offered,) = message["media"]  # the oversized file is left out
            assert offered["content_type"] == "image/jpeg"
            assert offered["url"].startswith("http://assistants.internal:8000/api/v1/media/")

            path = offered["url"].removeprefix("http://assistants.internal:8000")
            served_bytes = await served.http.get(path)
            assert served_bytes.status_code == 200 and served_bytes.content == picture
            assert served_bytes.headers["content-type"] == "image/jpeg"

            row = await inbound_row(sessions, message_id)
            stored, too_big = row.media
            assert stored == {"media_id": stored["media_id"], "content_type": "image/jpeg"}
            assert too_big == {"error": "MEDIA_TOO_LARGE", "content_type": "video/mp4"}
            async with sessions() as s:
                kept = await s.scalar(select(Media).where(Media.id == uuid.UUID(stored["media_id"])))
            assert (kept.user_id, kept.source, kept.size, kept.data) == (
                alice.user_id,
                "inbound",
                len(picture),
                picture,
            )

            # Redelivered after its lease lapses: the same media, not fetched again.
            again = only_message(await poll(served.http, alice, wait=5))
            assert again["id"] == str(message_id) and len(again["media"]) == 1
            assert again["media"][0]["url"].split("?")[0] == offered["url"].split("?")[0]
            assert len(twilio.authorizations) == 2


async def test_media_on_a_host_that_is_not_twilios_is_never_fetched(database_url, db, sessions, alice):
    sid, token = "AC" + "1" * 32, "twilio-secret-token-value"
    # Only Twilio's own hosts (the default): the 127.0.0.1 below is not one.
    settings = make_settings(database_url, TWILIO_ACCOUNT_SID=sid, TWILIO_AUTH_TOKEN=token)
    with TwilioMedia(sid, token, b"picture", big=b"") as elsewhere:
        async with serve(settings) as served:
            message_id = await queue_message(
                sessions,
                alice.user_id,
                "look",
                media=[{"url": elsewhere.url("/picture"), "content_type": "image/jpeg"}],
            )
            message = only_message(await poll(served.http, alice, wait=5))
    assert message["media"] == []
    # Not asked at all: our Twilio credentials went nowhere.
    assert elsewhere.authorizations == []
    row = await inbound_row(sessions, message_id)
    assert row.media == [{"error": "MEDIA_HOST_NOT_ALLOWED", "content_type": "image/jpeg"}]


async def test_media_urls_name_the_address_the_assistants_host_reaches_us_on(database_url, db, sessions, alice):
    """A host with its own runtime address (a private network, say): its containers reach us only there, so
    the media of their messages is offered there too, as their config's apiUrl is."""
    settings = make_settings(database_url, RUNTIME_API_URL="http://assistants.internal:8000")
    async with transaction(sessions) as session:
        host = HostServer(name="private", docker_url="tcp://10.9.0.2:2376", runtime_api_url="http://10.9.0.1:8000")
        session.add(host)
        await session.flush()
        assistant = await session.get(Assistant, alice.assistant_id)
        assistant.host_server_id = host.id
        stored = await media_repository.store_media(
            session, alice.user_id, source="inbound", content_type="image/png", data=b"png"
        )
    media_id = str(stored)
    async with serve(settings) as served:
        await queue_message(
            sessions, alice.user_id, "look", media=[{"media_id": media_id, "content_type": "image/png"}]
        )
        (offered,) = only_message(await poll(served.http, alice, wait=5))["media"]
    assert offered["url"].startswith(f"http://10.9.0.1:8000/api/v1/media/{media_id}?")


# --- end to end with the stand-in assistant ---------------------------------------------------------


async def test_the_stand_in_assistant_answers_a_queued_message(database_url, db, sessions, tmp_path, alice):
    settings = make_settings(database_url)
    async with LiveServer(settings) as server:
        config = tmp_path / "openclaw.json"
        channel = {"apiUrl": server.url, "token": alice.token, "userId": str(alice.user_id), "generation": 1}
        config.write_text(json.dumps({"channels": {"yourclaw": channel}}))
        assistant = StandinAssistant(config, health_port=None, poll_wait=5)
        assistant.start()
        try:
            waiter = server.app.state.app_state.inbound
            await wait_for(lambda: waiter.waiting(alice.user_id) == 1, message="the stand-in's poll to wait")
            message_id = await queue_message(sessions, alice.user_id, "hello")

            async def reply() -> Outbox | None:
                async with sessions() as s:
                    return await s.scalar(select(Outbox).where(Outbox.user_id == alice.user_id))

            row = await wait_for(reply, message="the reply in the outbox")
            assert (row.kind, row.body, row.idempotency_key) == ("reply", "echo: hello", f"{message_id}:0")
            assert row.in_reply_to == message_id and row.status == "PENDING"

            async def done() -> bool:
                return (await inbound_row(sessions, message_id)).status == "DONE"

            await wait_for(done, message="the message acked")
            assert assistant.handled == [str(message_id)]
        finally:
            await asyncio.to_thread(assistant.stop)
