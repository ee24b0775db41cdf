"""The router on a real PostgreSQL: verification, refusals and their replies, the assistant's queue,
the late notice, several routers at once, and one bad message among good ones."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator

from tests.harness.inbound_messages import audit_rows, inbound_count, receive
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import make_user
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.credits import notices as credit_notices
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, InboundMessage, Message, Outbox, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.messaging import notices
from yourclaw.messaging.inbound import routing
from yourclaw.messaging.inbound.router import InboundRouter, run_router
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.protocol import tokens

pytestmark = pytest.mark.db

APP_URL = "https://app.yourclaw.test"
TOKEN = "twilio-auth-token-for-tests"


@pytest.fixture
def settings(database_url):
    return make_settings(
        database_url,
        APP_URL=APP_URL,
        TWILIO_AUTH_TOKEN=TOKEN,
        WORKER_POLL_INTERVAL="0.2",
        NOT_READY_NOTICE_SECONDS="1",
        RATE_LIMIT_MSG_PER_MIN="3",
        RATE_LIMIT_MSG_PER_DAY="100",
    )


@asynccontextmanager
async def routers(settings, sessions, count: int = 1) -> AsyncIterator[None]:
    stop = asyncio.Event()
    box = SecretBox(settings.fernet_keys)
    tasks = [asyncio.create_task(run_router(settings, sessions, box, stop)) for _ in range(count)]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def statuses(sessions, ids: list[uuid.UUID]) -> list[tuple[str, str | None]]:
    async with sessions() as s:
        rows = (await s.execute(select(InboundMessage.id, InboundMessage.status, InboundMessage.detail))).all()
    found = {row.id: (row.status, row.detail) for row in rows}
    return [found[i] for i in ids]


async def routed(sessions, ids: list[uuid.UUID], *, timeout: float = 10) -> list[tuple[str, str | None]]:
    async def check():
        current = await statuses(sessions, ids)
        return current if all(status != "RECEIVED" for status, _ in current) else None

    return await wait_for(check, timeout=timeout, message="messages to be routed")


async def inbound(sessions, message_id: uuid.UUID) -> InboundMessage:
    async with sessions() as s:
        return await s.scalar(select(InboundMessage).where(InboundMessage.id == message_id))


async def outbox(sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.scalars(select(Outbox).order_by(Outbox.id))).all())


async def phone_row(sessions, user_id) -> UserPhone:
    async with sessions() as s:
        return await s.scalar(select(UserPhone).where(UserPhone.user_id == user_id))


# --- verification --------------------------------------------------------------------------------


async def test_link_code_verifies_the_number_and_welcomes(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230001", verified=False, code="424242")
    async with routers(settings, sessions):
        link = await receive(sessions, "+15551230001", "Link 424242")
        assert await routed(sessions, [link]) == [("VERIFICATION", "VERIFIED")]
        phone = await phone_row(sessions, user_id)
        row = await inbound(sessions, link)
        assert phone.verified_at is not None and phone.verification_code is None
        assert row.user_id == user_id
        # The "link" message itself opened the 24-hour window: the welcome goes as a plain message.
        assert phone.last_inbound_at == row.received_at
        (welcome,) = await outbox(sessions)
        assert (welcome.user_id, welcome.to_phone, welcome.body) == (user_id, None, notices.linked())

        # From now on the number routes to the user's assistant.
        hello = await receive(sessions, "+15551230001", "hello")
        assert await routed(sessions, [hello]) == [("QUEUED", None)]
        assert (await inbound(sessions, hello)).user_id == user_id
        # Only digits make a code: anything else after "link" is for the assistant.
        article = await receive(sessions, "+15551230001", "link https://example.com/article")
        assert await routed(sessions, [article]) == [("QUEUED", None)]


async def test_a_second_users_code_for_a_verified_number_fails_cleanly(settings, sessions, db):
    first = await make_user(sessions, "+15551230002", verified=False, code="111111")
    second = await make_user(sessions, "+15551230002", verified=False, code="222222")
    async with routers(settings, sessions):
        ids = [await receive(sessions, "+15551230002", "link 111111")]
        ids.append(await receive(sessions, "+15551230002", "link 222222"))
        assert await routed(sessions, ids) == [("VERIFICATION", "VERIFIED"), ("VERIFICATION", "PHONE_TAKEN")]
    assert (await phone_row(sessions, first)).verified_at is not None
    still_pending = await phone_row(sessions, second)
    assert still_pending.verified_at is None and still_pending.verification_code == "222222"
    welcome, taken = await outbox(sessions)
    assert welcome.body == notices.linked()
    # The number is the first user's: the explanation goes to it (the same phone that wrote).
    assert (taken.user_id, taken.body) == (first, notices.phone_taken())


async def test_wrong_expired_and_repeated_codes_explain(settings, sessions, db):
    expired_user = await make_user(
        sessions, "+15551230003", verified=False, code="333333", code_expires_in=timedelta(minutes=-1)
    )
    linked_user = await make_user(sessions, "+15551230004")
    async with routers(settings, sessions):
        wrong = [await receive(sessions, "+15551230005", "link 000000") for _ in range(2)]
        expired = await receive(sessions, "+15551230003", "link 333333")
        again = await receive(sessions, "+15551230004", "link 999999")
        assert await routed(sessions, [*wrong, expired, again]) == [
            ("VERIFICATION", "WRONG_CODE"),
            ("VERIFICATION", "WRONG_CODE"),
            ("VERIFICATION", "EXPIRED_CODE"),
            ("VERIFICATION", "ALREADY_LINKED"),
        ]
    assert (await phone_row(sessions, expired_user)).verified_at is None
    replies = {(o.user_id, o.to_phone): o.body for o in await outbox(sessions)}
    # The same wrong code twice is explained once; numbers without an account are answered by number.
    assert replies == {
        (None, "+15551230005"): f"{notices.wrong_code(APP_URL)} {notices.once_a_day()}",
        (None, "+15551230003"): f"{notices.expired_code(APP_URL)} {notices.once_a_day()}",
        (linked_user, None): notices.already_linked(),
    }


# --- senders who cannot reach an assistant ---------------------------------------------------------


async def test_unknown_senders_get_the_sign_up_link_once_a_day(settings, sessions, db):
    await make_user(sessions, "+15551230006", verified=False)
    async with routers(settings, sessions):
        ids = [await receive(sessions, "+15551230007", f"hi {i}") for i in range(3)]
        # A pending (unproven) number is as unknown as any other.
        ids.append(await receive(sessions, "+15551230006", "hello?"))
        assert await routed(sessions, ids) == [("REFUSED", "UNKNOWN_SENDER")] * 4
    rows = await outbox(sessions)
    assert sorted((o.to_phone, o.user_id) for o in rows) == [("+15551230006", None), ("+15551230007", None)]
    assert all(o.body == f"{notices.sign_up(APP_URL)} {notices.once_a_day()}" and APP_URL in o.body for o in rows)
    received_at = (await inbound(sessions, ids[0])).received_at
    assert {o.dedupe_key for o in rows} == {routing.unknown_number_key(received_at)}


async def test_a_number_without_an_account_gets_one_answer_a_day_whatever_it_sends(settings, sessions, db):
    stranger = "+15551230020"
    # The number was claimed by someone whose code has since expired: still no account behind it.
    await make_user(sessions, stranger, verified=False, code="777777", code_expires_in=timedelta(minutes=-1))
    bodies = ["hi", "link 777777", "hello?", "link 1234", *(f"link {100000 + i}" for i in range(10)), "help"]
    assert len(bodies) == 15
    async with routers(settings, sessions):
        ids = [await receive(sessions, stranger, body) for body in bodies]
        outcomes = await routed(sessions, ids)
    assert {detail for _, detail in outcomes} == {"UNKNOWN_SENDER", "EXPIRED_CODE", "WRONG_CODE"}
    (answer,) = await outbox(sessions)
    assert (answer.user_id, answer.to_phone) == (None, stranger)
    # The first message's answer, and the one sentence that says why no other comes today.
    assert answer.body == f"{notices.sign_up(APP_URL)} {notices.once_a_day()}"


async def test_stop_and_start(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230008")
    async with routers(settings, sessions):
        stop = await receive(sessions, "+15551230008", "STOP")
        assert await routed(sessions, [stop]) == [("REFUSED", "OPT_OUT")]
        assert (await phone_row(sessions, user_id)).opted_out_at is not None
        start = await receive(sessions, "+15551230008", " start ")
        assert await routed(sessions, [start]) == [("DONE", "OPT_IN")]
        assert (await phone_row(sessions, user_id)).opted_out_at is None
    assert [o.body for o in await outbox(sessions)] == [notices.stopped(), notices.started()]
    # Neither reached the assistant nor the conversation.
    assert await audit_rows(sessions, user_id) == [] and await inbound_count(sessions, user_id) == 0


async def test_a_tap_on_show_me_releases_the_held_message_and_is_no_question_for_the_assistant(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230014")
    async with transaction(sessions) as s:
        held = await enqueue_whatsapp(s, user_id, "Your parcel has arrived", "proactive")
        await s.execute(update(Outbox).where(Outbox.id == held).values(status="HELD", held_since=func.now()))
        await s.execute(update(UserPhone).where(UserPhone.user_id == user_id).values(last_inbound_at=None))
    async with routers(settings, sessions):
        tap = await receive(sessions, "+15551230014", "Show me", button_payload=settings.twilio_template_button_payload)
        assert await routed(sessions, [tap]) == [("DONE", routing.SHOW_HELD)]
        # A button of someone else's template (or an old one) is a message like any other.
        other = await receive(sessions, "+15551230014", "Yes please", button_payload="some-other-button")
        assert await routed(sessions, [other]) == [("QUEUED", None)]
    # The tap opened the 24-hour window, which is what releases the held message (the sender's part).
    assert (await phone_row(sessions, user_id)).last_inbound_at is not None
    # In the conversation, no reply of ours, and only the other message counted as one for the assistant.
    assert sorted(m.body for m in await audit_rows(sessions, user_id)) == ["Show me", "Yes please"]
    assert [o.id for o in await outbox(sessions)] == [held]
    assert await inbound_count(sessions, user_id) == 1


async def test_assistant_states_refuse_with_a_reply_once(settings, sessions, db):
    cases = {
        "+15551230010": (dict(assistant=None), "NO_ASSISTANT", notices.no_assistant(APP_URL)),
        "+15551230011": (
            dict(assistant="PROVISIONING", phase="creating"),
            "ASSISTANT_PROVISIONING",
            notices.provisioning(),
        ),
        "+15551230012": (dict(assistant="ERROR", phase="failed"), "ASSISTANT_ERROR", notices.assistant_error(APP_URL)),
    }
    users = {phone: await make_user(sessions, phone, **kwargs) for phone, (kwargs, _, _) in cases.items()}
    # A deleted assistant is no assistant, whatever its last status said.
    deleted = await make_user(sessions, "+15551230013")
    async with transaction(sessions) as s:
        await s.execute(update(Assistant).where(Assistant.user_id == deleted).values(wanted=False))
    async with routers(settings, sessions):
        for phone, (_, detail, _) in cases.items():
            ids = [await receive(sessions, phone, "hello"), await receive(sessions, phone, "anyone there?")]
            assert await routed(sessions, ids) == [("REFUSED", detail)] * 2
        gone = await receive(sessions, "+15551230013", "hi")
        assert await routed(sessions, [gone]) == [("REFUSED", "NO_ASSISTANT")]
    replies = sorted((o.user_id, o.body) for o in await outbox(sessions))
    expected = sorted(
        [(users[phone], text) for phone, (_, _, text) in cases.items()] + [(deleted, notices.no_assistant(APP_URL))]
    )
    assert replies == expected
    # What they wrote stays in their conversation (a reload still shows it), but counts for nothing today.
    for user_id in users.values():
        assert sorted(m.body for m in await audit_rows(sessions, user_id)) == ["anyone there?", "hello"]
        assert await inbound_count(sessions, user_id) == 0


async def test_rate_limit_refuses_with_one_reply_per_window(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230014")
    async with routers(settings, sessions):
        ids = [await receive(sessions, "+15551230014", f"message {i}") for i in range(6)]
        assert await routed(sessions, ids) == [("QUEUED", None)] * 3 + [("REFUSED", "RATE_LIMITED")] * 3
    (reply,) = await outbox(sessions)
    assert reply.user_id == user_id and "3 messages a minute" in reply.body and "You can write again" in reply.body
    first = await inbound(sessions, ids[0])
    assert (
        reply.dedupe_key
        == f"rate-limit:minute:{(first.received_at + timedelta(minutes=1)).astimezone(UTC).isoformat()}"
    )
    assert len(await audit_rows(sessions, user_id)) == 3 and await inbound_count(sessions, user_id) == 3


async def test_no_credits_refuses_with_one_reply_a_day_shared_with_billing(settings, sessions, db):
    broke = await make_user(sessions, "+15551230015", cents=0)
    told_by_billing = await make_user(sessions, "+15551230016", cents=0)
    today = datetime.now(UTC).date().isoformat()
    async with transaction(sessions) as s:
        await enqueue_whatsapp(
            s, told_by_billing, "out of credits (proxy)", dedupe_key=f"no-credits:{told_by_billing}:{today}"
        )
    refusals_before = REGISTRY.get_sample_value("yourclaw_credit_refusals_total", {"where": "router"}) or 0
    async with routers(settings, sessions):
        ids = [await receive(sessions, "+15551230015", "hi"), await receive(sessions, "+15551230015", "hello")]
        ids.append(await receive(sessions, "+15551230016", "hi"))
        assert await routed(sessions, ids) == [("REFUSED", "NO_CREDITS")] * 3
    # Each refusal counted where operators look for them.
    assert REGISTRY.get_sample_value("yourclaw_credit_refusals_total", {"where": "router"}) == refusals_before + 3
    rows = await outbox(sessions)
    assert [(o.user_id, o.body) for o in rows] == [
        (told_by_billing, "out of credits (proxy)"),
        (broke, credit_notices.no_credits(APP_URL)),
    ]
    assert rows[1].dedupe_key == f"no-credits:{broke}:{today}"


# --- the queue ------------------------------------------------------------------------------------


async def test_ready_but_disconnected_queues_and_the_user_hears_once_per_wait(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230017", phase="disconnected")
    photo = [{"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}]
    async with routers(settings, sessions):
        first = await receive(sessions, "+15551230017", "", media=photo)
        assert await routed(sessions, [first]) == [("QUEUED", None)]
        (audit,) = await audit_rows(sessions, user_id)
        assert (audit.direction, audit.kind, audit.body) == ("INBOUND", "user", "[1 attachment]")
        assert await inbound_count(sessions, user_id) == 1
        second = await receive(sessions, "+15551230017", "are you there?")
        assert await routed(sessions, [second]) == [("QUEUED", None)]

        async def notices_sent():
            return [o for o in await outbox(sessions) if o.body == notices.still_waiting()]

        (notice,) = await wait_for(notices_sent, timeout=10, message="the still-waiting notice")
        assert notice.user_id == user_id and notice.dedupe_key == routing.still_waiting_key(first)

    router = InboundRouter(settings, sessions)
    assert await router.send_waiting_notices() == 0  # the same wait: no second notice

    # The assistant took and finished the first one a while ago; the second now waits on its own (routed as
    # long ago: its wait is counted from then, whatever the time the routers took).
    async with transaction(sessions) as s:
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == first)
            .values(status="DONE", deliveries=1, acked_at=func.now() - timedelta(seconds=5))
        )
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == second)
            .values(routed_at=func.now() - timedelta(seconds=5))
        )
    assert await router.send_waiting_notices() == 1
    assert await router.send_waiting_notices() == 0
    assert [o.dedupe_key for o in await outbox(sessions)] == [
        routing.still_waiting_key(first),
        routing.still_waiting_key(second),
    ]


async def test_a_busy_assistant_gets_no_notice(settings, sessions, db):
    user_id = await make_user(sessions, "+15551230018")
    router = InboundRouter(settings, sessions)
    first = await receive(sessions, "+15551230018", "a long job")
    second = await receive(sessions, "+15551230018", "and then this")
    await router.drain()
    assert await statuses(sessions, [first, second]) == [("QUEUED", None)] * 2
    long_ago = func.now() - timedelta(minutes=5)
    async with transaction(sessions) as s:
        await s.execute(update(InboundMessage).where(InboundMessage.user_id == user_id).values(routed_at=long_ago))
        # The first is in a turn that keeps extending its lease: the assistant is working, not missing.
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == first)
            .values(status="LEASED", lease_until=func.now() + timedelta(seconds=60), deliveries=1)
        )
    assert await router.send_waiting_notices() == 0
    # The lease ran out with nobody extending it: the user hears about it.
    async with transaction(sessions) as s:
        await s.execute(
            update(InboundMessage)
            .where(InboundMessage.id == first)
            .values(lease_until=func.now() - timedelta(seconds=5))
        )
    assert await router.send_waiting_notices() == 1
    (notice,) = await outbox(sessions)
    assert notice.dedupe_key == routing.still_waiting_key(first)


async def test_listen_wakes_the_router_long_before_its_scan(settings, sessions, db):
    slow_scan = make_settings(settings.database_url, APP_URL=APP_URL, WORKER_POLL_INTERVAL="60")
    await make_user(sessions, "+15551230019")
    async with routers(slow_scan, sessions):
        for i in range(3):
            message = await receive(sessions, "+15551230019", f"ping {i}")
            assert await routed(sessions, [message], timeout=5) == [("QUEUED", None)]


async def test_three_routers_route_each_of_thirty_messages_exactly_once(settings, sessions, db):
    roomy = make_settings(
        settings.database_url, APP_URL=APP_URL, WORKER_POLL_INTERVAL="0.2", RATE_LIMIT_MSG_PER_MIN="100"
    )
    phones = ["+15551230020", "+15551230021", "+15551230022"]
    users = [await make_user(sessions, phone) for phone in phones]
    ids = [await receive(sessions, phones[i % 3], f"early {i}") for i in range(15)]
    async with routers(roomy, sessions, count=3):
        ids += [await receive(sessions, phones[i % 3], f"late {i}") for i in range(15)]
        assert await routed(sessions, ids) == [("QUEUED", None)] * 30
    for user_id in users:
        bodies = sorted(m.body for m in await audit_rows(sessions, user_id))
        assert len(bodies) == 10 and len(set(bodies)) == 10
        assert await inbound_count(sessions, user_id) == 10
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 30


async def test_one_bad_message_never_stops_the_others(settings, sessions, db, monkeypatch):
    decide = routing.decide

    def exploding(body, *args, **kwargs):
        if body == "boom":
            raise RuntimeError("a bug in routing")
        return decide(body, *args, **kwargs)

    monkeypatch.setattr(routing, "decide", exploding)
    await make_user(sessions, "+15551230023")
    await make_user(sessions, "+15551230024")
    boom = await receive(sessions, "+15551230023", "boom")
    behind = await receive(sessions, "+15551230023", "after the bad one")
    other = await receive(sessions, "+15551230024", "fine")
    async with routers(settings, sessions):
        assert await routed(sessions, [other]) == [("QUEUED", None)]
        # Retried a few times, then refused; the sender's next message follows it, in order.
        assert await routed(sessions, [boom, behind]) == [("REFUSED", "INTERNAL"), ("QUEUED", None)]


# --- the whole way in -----------------------------------------------------------------------------


async def test_one_message_sent_three_times_is_one_row_and_one_delivery(database_url, sessions, db):
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        database_url, API_URL=api_url, APP_URL=APP_URL, TWILIO_AUTH_TOKEN=TOKEN, WORKER_POLL_INTERVAL="0.2"
    )
    user_id = await make_user(sessions, "+15551230025")
    async with transaction(sessions) as s:
        assistant_id = await s.scalar(select(Assistant.id).where(Assistant.user_id == user_id))
        token = await tokens.issue(s, SecretBox(settings.fernet_keys), user_id=user_id, assistant_id=assistant_id)

    path = "/api/v1/webhooks/twilio/whatsapp"
    params = {"MessageSid": "SM" + "f" * 32, "From": "whatsapp:+15551230025", "Body": "hello", "NumMedia": "0"}
    signature = RequestValidator(TOKEN).compute_signature(api_url + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    poll_headers = {"Authorization": f"Bearer {token}", "X-Config-Generation": "1", "X-Instance-Id": "inst-1"}

    async with LiveServer(settings, port=port), httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        for _ in range(3):
            response = await http.post(path, content=urlencode(params), headers=headers)
            assert response.status_code == 200 and response.text == "<Response></Response>"
        async with routers(settings, sessions):
            polled = await http.get("/api/v1/runtime/inbound", params={"wait": 10}, headers=poll_headers)
            assert polled.status_code == 200, polled.text
            (message,) = polled.json()["messages"]
            assert (message["from"], message["text"]) == (str(user_id), "hello")
            acked = await http.post(f"/api/v1/runtime/inbound/{message['id']}/ack", headers=poll_headers)
            assert acked.status_code == 204
            again = await http.get("/api/v1/runtime/inbound", params={"wait": 0}, headers=poll_headers)
            assert again.status_code == 204
    async with sessions() as s:
        (row,) = (await s.scalars(select(InboundMessage))).all()
    assert (row.status, row.deliveries, row.user_id) == ("DONE", 1, user_id)
    assert len(await audit_rows(sessions, user_id)) == 1 and await inbound_count(sessions, user_id) == 1
