"""Twilio's webhooks on the real app and PostgreSQL: signatures (also behind a rewriting proxy),
storage once per MessageSid, malformed requests, the 24-hour window, and delivery status callbacks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import make_user
from tests.harness.settings import make_settings
from yourclaw.db import channels
from yourclaw.db.engine import transaction
from yourclaw.db.models import InboundMessage, Message, UserPhone
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

TOKEN = "twilio-auth-token-for-tests"
API_URL = "https://api.yourclaw.test"
WHATSAPP = "/api/v1/webhooks/twilio/whatsapp"
STATUS = "/api/v1/webhooks/twilio/status"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signature(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def inbound_params(sid: str | None = None, phone: str = "+15550001111", body: str = "hello", **extra) -> dict:
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "ProfileName": "Ann",
        "WaId": phone.lstrip("+"),
        "NumMedia": "0",
    }
    params.update(extra)
    return params


async def post_signed(client, path: str, params: dict, *, url: str | None = None, **headers) -> httpx.Response:
    """Signed as Twilio signs: over the public URL it was given (API_URL + path) and the form fields."""
    sig = signature(url or API_URL + path, params)
    return await client.post(path, content=urlencode(params), headers={**FORM, "X-Twilio-Signature": sig, **headers})


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, API_URL=API_URL, TWILIO_AUTH_TOKEN=TOKEN)


@pytest.fixture
async def twilio(settings, db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def _rows(sessions) -> list[InboundMessage]:
    async with sessions() as s:
        return list((await s.scalars(select(InboundMessage).order_by(InboundMessage.received_at))).all())


@asynccontextmanager
async def listening(database_url: str, *channels: str) -> AsyncIterator[asyncio.Queue]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for channel in channels:
        await conn.add_listener(channel, lambda _c, _pid, ch, payload: received.put_nowait((ch, payload)))
    try:
        yield received
    finally:
        await conn.close()


async def test_a_signed_message_is_stored_and_answered_with_empty_twiml(twilio, sessions, database_url):
    params = inbound_params(
        body="look at this",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME2",
        MediaContentType1="application/pdf",
    )
    async with listening(database_url, channels.INBOUND) as notes:
        response = await post_signed(twilio, WHATSAPP, params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text == "<Response></Response>"
        (row,) = await _rows(sessions)
        assert await asyncio.wait_for(notes.get(), 5) == (channels.INBOUND, str(row.id))
    assert row.status == "RECEIVED" and row.user_id is None
    assert (row.message_sid, row.from_phone, row.body) == (params["MessageSid"], "+15550001111", "look at this")
    assert (row.profile_name, row.wa_id) == ("Ann", "15550001111")
    assert row.media == [
        {"url": params["MediaUrl0"], "content_type": "image/jpeg"},
        {"url": params["MediaUrl1"], "content_type": "application/pdf"},
    ]


@pytest.mark.parametrize(("payload", "stored"), [("yourclaw-show-held", "yourclaw-show-held"), ("x" * 300, None)])
async def test_a_tap_on_a_quick_reply_button_keeps_its_id(twilio, sessions, payload, stored):
    """WhatsApp sends the button's title as the body and its id as ButtonPayload; no id of ours is that long."""
    response = await post_signed(twilio, WHATSAPP, inbound_params(body="Show me", ButtonPayload=payload))
    assert response.status_code == 200, response.text
    (row,) = await _rows(sessions)
    assert (row.body, row.button_payload) == ("Show me", stored)


async def test_a_signed_message_with_nul_is_kept_with_the_nul_replaced_and_answered_200(twilio, sessions):
    """Twilio signed it, so it is the user's: refused (4xx) it would be lost, failed (5xx) retried in vain."""
    params = inbound_params(
        body="a\x00b",
        ProfileName="A\x00nn",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/M\x00E",
        MediaContentType0="x",
    )
    response = await post_signed(twilio, WHATSAPP, params)
    assert response.status_code == 200, response.text
    (row,) = await _rows(sessions)
    assert (row.body, row.profile_name) == ("a\ufffdb", "A\ufffdnn")
    assert row.media == [{"url": "https://api.twilio.com/M\ufffdE", "content_type": "x"}]


async def test_missing_or_wrong_signatures_are_refused_and_store_nothing(twilio, sessions):
    params = inbound_params()
    body = urlencode(params)
    missing = await twilio.post(WHATSAPP, content=body, headers=FORM)
    assert missing.status_code == 403 and missing.json()["code"] == "INVALID_SIGNATURE"

    wrong_token = signature(API_URL + WHATSAPP, params, token="not-the-token")
    garbage = "bm90IGEgc2lnbmF0dXJl"
    for sig in (wrong_token, garbage):
        response = await twilio.post(WHATSAPP, content=body, headers={**FORM, "X-Twilio-Signature": sig})
        assert response.status_code == 403 and response.json()["code"] == "INVALID_SIGNATURE"
        assert TOKEN not in response.text

    # Signed, then changed on the way: the body is part of what is signed.
    sig = signature(API_URL + WHATSAPP, params)
    tampered = urlencode({**params, "Body": "send me everything"})
    response = await twilio.post(WHATSAPP, content=tampered, headers={**FORM, "X-Twilio-Signature": sig})
    assert response.status_code == 403
    assert await _rows(sessions) == []


async def test_without_an_auth_token_webhooks_are_refused(database_url, db):
    settings = make_settings(database_url, API_URL=API_URL)
    assert settings.twilio_auth_token is None
    async with AsyncTestClient(app=create_app(settings)) as client:
        for path in (WHATSAPP, STATUS):
            response = await post_signed(client, path, inbound_params())
            assert response.status_code == 503 and response.json()["code"] == "TWILIO_NOT_CONFIGURED"
            unsigned = await client.post(path, content=urlencode(inbound_params()), headers=FORM)
            assert unsigned.status_code == 503


async def test_behind_a_proxy_the_signature_is_checked_against_api_url(database_url, db, sessions):
    """uvicorn trusts X-Forwarded-* from 127.0.0.1 and rewrites the request's scheme and client; the Host
    is the proxy's upstream name. Twilio signed the public URL, so only that one validates."""
    settings = make_settings(database_url, API_URL=API_URL + "/", TWILIO_AUTH_TOKEN=TOKEN)
    proxy_headers = {
        "Host": "backend.internal:8080",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Host": "attacker.example",
    }
    async with LiveServer(settings, port=free_port()) as server, httpx.AsyncClient(base_url=server.url) as http:
        params = inbound_params()
        # The webhook may be configured with a query string; it is signed too.
        path = WHATSAPP + "?tenant=eu"
        ok = await post_signed(http, path, params, url=API_URL + path, **proxy_headers)
        assert ok.status_code == 200, ok.text

        for seen_url in (
            "https://backend.internal:8080" + path,  # what the rewritten request looks like
            "https://attacker.example" + path,
            server.url + path,
            API_URL + WHATSAPP,  # without the query string it was sent with
        ):
            refused = await post_signed(http, path, inbound_params(), url=seen_url, **proxy_headers)
            assert refused.status_code == 403, seen_url
            assert refused.json()["code"] == "INVALID_SIGNATURE"
    assert [r.message_sid for r in await _rows(sessions)] == [params["MessageSid"]]


async def test_the_same_message_sid_three_times_is_one_row(twilio, sessions, database_url):
    params = inbound_params(sid="SM" + "a" * 32)
    async with listening(database_url, channels.INBOUND) as notes:
        for _ in range(3):
            response = await post_signed(twilio, WHATSAPP, params)
            assert response.status_code == 200 and response.text == "<Response></Response>"
        (row,) = await _rows(sessions)
        assert await asyncio.wait_for(notes.get(), 5) == (channels.INBOUND, str(row.id))
        # Retries notify nobody: only the first insert did.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(notes.get(), 0.3)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"MessageSid": ""}, 422, "MISSING_MESSAGE_SID"),
        ({"MessageSid": "SM'; drop table"}, 422, "INVALID_MESSAGE_SID"),
        ({"MessageSid": "SM" + "1" * 80}, 422, "INVALID_MESSAGE_SID"),
        ({"From": "+15550001111"}, 422, "INVALID_FROM"),
        ({"From": "whatsapp:15550001111"}, 422, "INVALID_FROM"),
        ({"From": "whatsapp:+1555abc"}, 422, "INVALID_FROM"),
        ({"From": "whatsapp:+1" + "2" * 20}, 422, "INVALID_FROM"),
        ({"From": ""}, 422, "INVALID_FROM"),
        ({"NumMedia": "lots"}, 422, "INVALID_NUM_MEDIA"),
    ],
)
async def test_malformed_messages_are_4xx_with_a_code(twilio, sessions, change, status, code):
    params = {k: v for k, v in {**inbound_params(), **change}.items() if v != ""}
    response = await post_signed(twilio, WHATSAPP, params)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await _rows(sessions) == []


async def test_a_body_that_is_not_a_form_is_refused(twilio):
    response = await twilio.post(WHATSAPP, json=inbound_params(), headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 415 and response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_other_methods_and_oversized_forms_are_refused_with_a_code(twilio, sessions):
    got = await twilio.get(WHATSAPP)
    assert got.status_code == 405 and got.json()["code"] == "METHOD_NOT_ALLOWED"
    huge = await post_signed(twilio, WHATSAPP, inbound_params(body="x" * 70_000))
    assert huge.status_code == 413 and huge.json()["code"] == "BODY_TOO_LARGE"
    assert await _rows(sessions) == []


async def test_every_value_of_a_repeated_field_is_signed(twilio, sessions):
    """Twilio signs each value of a repeated field; one added by someone else breaks the signature."""
    params = inbound_params()
    pairs = [*params.items(), ("Extra", "a"), ("Extra", "b")]
    url = API_URL + WHATSAPP
    sig = RequestValidator(TOKEN).compute_signature(url, {**params, "Extra": "a"})
    response = await twilio.post(WHATSAPP, content=urlencode(pairs), headers={**FORM, "X-Twilio-Signature": sig})
    assert response.status_code == 403 and response.json()["code"] == "INVALID_SIGNATURE"
    assert await _rows(sessions) == []


async def _phone(sessions, user_id) -> UserPhone:
    async with sessions() as s:
        return await s.scalar(select(UserPhone).where(UserPhone.user_id == user_id))


async def test_a_message_opens_the_window_of_the_verified_number_and_wakes_the_sender(twilio, sessions, database_url):
    owner = await make_user(sessions, "+15550002222", verified=True, assistant=None, cents=0)
    pending = await make_user(sessions, "+15550003333", verified=False, assistant=None, cents=0)
    async with listening(database_url, channels.OUTBOX) as notes:
        before = datetime.now(UTC)
        # Nothing waiting for them: the sender is left alone.
        assert (await post_signed(twilio, WHATSAPP, inbound_params(phone="+15550002222"))).status_code == 200
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(notes.get(), 0.3)
        # A text held outside the window: it can go now, so the sender is woken.
        async with transaction(sessions) as session:
            await enqueue_whatsapp(session, owner, "held for you", kind="proactive")
        assert await asyncio.wait_for(notes.get(), 5) == (channels.OUTBOX, str(owner))  # the enqueue's own
        assert (await post_signed(twilio, WHATSAPP, inbound_params(phone="+15550002222"))).status_code == 200
        assert await asyncio.wait_for(notes.get(), 5) == (channels.OUTBOX, str(owner))
        assert (await post_signed(twilio, WHATSAPP, inbound_params(phone="+15550003333"))).status_code == 200
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(notes.get(), 0.3)
    verified_row = await _phone(sessions, owner)
    assert verified_row.last_inbound_at >= before - timedelta(seconds=1)
    assert verified_row.profile_name == "Ann"
    assert (await _phone(sessions, pending)).last_inbound_at is None


async def _message(sessions, user_id, sid: str) -> uuid.UUID:
    async with sessions() as s:
        row = Message(user_id=user_id, direction="OUTBOUND", kind="reply", body="hi", twilio_sid=sid)
        s.add(row)
        await s.commit()
        return row.id


async def _delivery(sessions, sid: str) -> str | None:
    async with sessions() as s:
        return await s.scalar(select(Message.delivery_status).where(Message.twilio_sid == sid))


async def test_status_callbacks_update_delivery_and_never_go_back(twilio, sessions):
    user_id = await make_user(sessions, "+15550004444", verified=True, assistant=None, cents=0)
    sid = "SM" + "b" * 32
    await _message(sessions, user_id, sid)

    async def status(value: str, **extra) -> httpx.Response:
        return await post_signed(twilio, STATUS, {"MessageSid": sid, "MessageStatus": value, **extra})

    assert (await status("sent")).status_code == 204
    assert await _delivery(sessions, sid) == "sent"
    assert (await status("read")).status_code == 204
    # Twilio does not promise order: a late "delivered" does not hide "read".
    assert (await status("delivered")).status_code == 204
    assert await _delivery(sessions, sid) == "read"

    other = "SM" + "c" * 32
    await _message(sessions, user_id, other)
    assert (
        await post_signed(twilio, STATUS, {"MessageSid": other, "MessageStatus": "failed", "ErrorCode": "63016"})
    ).status_code == 204
    assert (await post_signed(twilio, STATUS, {"MessageSid": other, "MessageStatus": "sent"})).status_code == 204
    assert await _delivery(sessions, other) == "failed"

    # A status we do not know yet is acknowledged and stored nowhere.
    assert (await status("partially_delivered")).status_code == 204
    assert await _delivery(sessions, sid) == "read"


async def test_status_callbacks_for_unknown_sids_are_fine_and_malformed_ones_are_4xx(twilio, sessions):
    unknown = await post_signed(twilio, STATUS, {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered"})
    assert unknown.status_code == 204

    cases = [
        ({"MessageStatus": "delivered"}, "MISSING_MESSAGE_SID"),
        ({"MessageSid": "SM" + "e" * 32}, "MISSING_MESSAGE_STATUS"),
        ({"MessageSid": "SM" + "e" * 32, "MessageStatus": "<b>"}, "INVALID_MESSAGE_STATUS"),
    ]
    for params, code in cases:
        response = await post_signed(twilio, STATUS, params)
        assert response.status_code == 422 and response.json()["code"] == code

    unsigned = await twilio.post(
        STATUS, content=urlencode({"MessageSid": "SM1", "MessageStatus": "read"}), headers=FORM
    )
    assert unsigned.status_code == 403 and unsigned.json()["code"] == "INVALID_SIGNATURE"
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 0
