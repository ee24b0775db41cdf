"""The router's pure decisions and the webhook signature's URL: commands, limits, replies, links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar.datastructures import FormMultiDict
from twilio.request_validator import RequestValidator

from yourclaw.credits import notices as credit_notices
from yourclaw.messaging import notices
from yourclaw.messaging.inbound import routing
from yourclaw.messaging.inbound.routing import LinkResult, Sender
from yourclaw.messaging.twilio.signature import is_valid, public_url

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
USER = uuid.UUID(int=7)
OTHER = uuid.UUID(int=8)
LIMITS = routing.Limits(per_minute=3, per_day=5)
APP = "https://app.yourclaw.test/"


def sender(**overrides) -> Sender:
    base = dict(user_id=USER, assistant_status="READY", queued_at=(), can_spend=True)
    return Sender(**{**base, **overrides})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("link 123456", "123456"),
        ("  LINK   004211 \n", "004211"),
        ("Link abc", None),
        ("link https://example.com/a", None),
        ("link", None),
        ("link 12 34", None),
        ("please link 123456", None),
        ("", None),
    ],
)
def test_link_code(body, code):
    assert routing.link_code(body) == code


@pytest.mark.parametrize(
    ("body", "command"),
    [("STOP", "STOP"), (" stop\n", "STOP"), ("Start", "START"), ("stop that", None), ("STOP!", None), ("", None)],
)
def test_stop_and_start_only_as_the_whole_message(body, command):
    assert routing.opt_command(body) == command


def test_rate_limit_per_minute_and_when_to_write_again():
    times = [AT - timedelta(seconds=s) for s in (50, 20, 5)]
    limited = routing.rate_limit(times, AT, LIMITS)
    assert limited == routing.RateLimit("minute", 3, AT - timedelta(seconds=50) + timedelta(minutes=1))
    # The oldest leaves the window: one more fits.
    assert routing.rate_limit(times, AT + timedelta(seconds=11), LIMITS) is None
    assert routing.rate_limit(times[1:], AT, LIMITS) is None


def test_rate_limit_per_day_wins_when_it_ends_later():
    times = [AT - timedelta(hours=h) for h in (20, 10, 3)] + [AT - timedelta(seconds=s) for s in (30, 10)]
    limited = routing.rate_limit(times, AT, LIMITS)
    assert limited.window == "day" and limited.retry_at == AT - timedelta(hours=20) + timedelta(days=1)
    # Messages older than a day do not count.
    assert routing.rate_limit([AT - timedelta(days=2)] * 10, AT, LIMITS) is None


def test_decisions_in_order_for_a_verified_sender():
    assert routing.decide("hello", AT, sender(), LIMITS, APP) == routing.Outcome("QUEUED")
    # READY in any phase queues; the phase is not even asked.
    stop = routing.decide("stop", AT, sender(assistant_status=None, can_spend=False), LIMITS, APP)
    assert (stop.status, stop.detail, stop.opt_out) == ("REFUSED", "OPT_OUT", True)
    start = routing.decide("START", AT, sender(), LIMITS, APP)
    assert (start.status, start.detail, start.opt_out) == ("DONE", "OPT_IN", False)

    for status, detail in (
        (None, "NO_ASSISTANT"),
        ("PROVISIONING", "ASSISTANT_PROVISIONING"),
        ("ERROR", "ASSISTANT_ERROR"),
    ):
        outcome = routing.decide("hi", AT, sender(assistant_status=status, can_spend=False), LIMITS, APP)
        assert (outcome.status, outcome.detail) == ("REFUSED", detail)
        assert outcome.reply.dedupe_key == f"assistant:{detail}:2026-11-25T12"

    full = [AT - timedelta(seconds=s) for s in (40, 30, 20)]
    limited = routing.decide("hi", AT, sender(queued_at=full, can_spend=False), LIMITS, APP)
    assert (limited.status, limited.detail) == ("REFUSED", "RATE_LIMITED")
    assert "20 seconds" in limited.reply.text
    # A later message in the same window gets the same key: one reply per window.
    later = routing.decide("hi", AT + timedelta(seconds=15), sender(queued_at=full), LIMITS, APP)
    assert later.reply.dedupe_key == limited.reply.dedupe_key

    broke = routing.decide("hi", AT, sender(can_spend=False), LIMITS, APP)
    assert (broke.status, broke.detail) == ("REFUSED", "NO_CREDITS")
    assert broke.reply.dedupe_key == f"no-credits:{USER}:2026-11-25"


def test_unknown_sender_gets_the_sign_up_link_once_a_day():
    outcome = routing.unknown_sender(AT, APP)
    assert (outcome.status, outcome.detail) == ("REFUSED", "UNKNOWN_SENDER")
    assert "https://app.yourclaw.test" in outcome.reply.text
    assert outcome.reply.text.endswith(notices.once_a_day())
    assert outcome.reply.dedupe_key == routing.unknown_sender(AT + timedelta(hours=5), APP).reply.dedupe_key
    assert outcome.reply.dedupe_key != routing.unknown_sender(AT + timedelta(days=1), APP).reply.dedupe_key


def test_a_number_without_an_account_shares_one_answer_a_day_whatever_it_sends():
    key = routing.unknown_number_key(AT)
    answers = [routing.unknown_sender(AT, APP)] + [
        routing.link_outcome(result, code, AT + timedelta(hours=3), APP, has_account=False)
        for result in (LinkResult.WRONG_CODE, LinkResult.EXPIRED_CODE, LinkResult.PHONE_TAKEN)
        for code in ("000001", "000002")
    ]
    assert {a.reply.dedupe_key for a in answers} == {key}
    assert all(a.reply.text.endswith(notices.once_a_day()) for a in answers)
    assert routing.unknown_number_key(AT + timedelta(days=1)) != key
    # A linked number is a user: their explanations are keyed per code, as before.
    linked = routing.link_outcome(LinkResult.ALREADY_LINKED, "000001", AT, APP, has_account=True)
    assert linked.reply.dedupe_key != key and linked.reply.text == notices.already_linked()


@pytest.mark.parametrize(
    ("code_owner", "expired", "number_owner", "result"),
    [
        (USER, False, None, LinkResult.VERIFIED),
        (USER, True, None, LinkResult.EXPIRED_CODE),
        (None, False, None, LinkResult.WRONG_CODE),
        (None, False, USER, LinkResult.ALREADY_LINKED),
        (OTHER, False, USER, LinkResult.PHONE_TAKEN),
        (OTHER, True, USER, LinkResult.PHONE_TAKEN),
    ],
)
def test_link_results(code_owner, expired, number_owner, result):
    assert routing.link_result(code_owner=code_owner, code_expired=expired, number_owner=number_owner) is result


def test_link_replies():
    verified = routing.link_outcome(LinkResult.VERIFIED, "123456", AT, APP, has_account=True)
    assert (verified.status, verified.detail, verified.reply.text) == ("VERIFICATION", "VERIFIED", notices.linked())
    wrong = routing.link_outcome(LinkResult.WRONG_CODE, "999999", AT, APP, has_account=False)
    assert wrong.reply.text.startswith(notices.wrong_code(APP))
    expired = routing.link_outcome(LinkResult.EXPIRED_CODE, "1111", AT, APP, has_account=False)
    assert "expired" in expired.reply.text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1 second"), (20, "20 seconds"), (61, "2 minutes"), (3600, "1 hour"), (3601, "2 hours")],
)
def test_humanize_wait_rounds_up(seconds, text):
    assert notices.humanize_wait(seconds) == text


def test_every_notice_is_short():
    texts = [
        notices.linked(),
        notices.already_linked(),
        notices.wrong_code(APP),
        notices.expired_code(APP),
        notices.phone_taken(),
        f"{notices.sign_up(APP)} {notices.once_a_day()}",
        f"{notices.wrong_code(APP)} {notices.once_a_day()}",
        notices.outbound_capped(200, AT, ZoneInfo("America/Los_Angeles")),
        notices.stopped(),
        notices.started(),
        notices.no_assistant(APP),
        notices.provisioning(),
        notices.assistant_error(APP),
        notices.rate_limited("day", 100, 7200),
        credit_notices.no_credits(APP),
        notices.still_waiting(),
    ]
    assert all(0 < len(t) <= 250 for t in texts)


@pytest.mark.parametrize(
    ("api_url", "path", "query", "url"),
    [
        (
            "https://api.example.com",
            "/api/v1/webhooks/twilio/whatsapp",
            "",
            "https://api.example.com/api/v1/webhooks/twilio/whatsapp",
        ),
        ("https://api.example.com/", "/x", "a=1&b=2", "https://api.example.com/x?a=1&b=2"),
        ("https://example.com/yc/#frag", "/x", "", "https://example.com/yc/x"),
        ("http://127.0.0.1:8000?q=1", "/x", "", "http://127.0.0.1:8000/x"),
    ],
)
def test_public_url_comes_from_api_url(api_url, path, query, url):
    assert public_url(api_url, path, query) == url


def test_signature_over_the_public_url_with_or_without_the_default_port():
    token = "auth-token-1"
    params = FormMultiDict({"From": "whatsapp:+15550001111", "Body": "hi", "MessageSid": "SM1"})
    url = "https://api.example.com/api/v1/webhooks/twilio/whatsapp"
    signature = RequestValidator(token).compute_signature(url, dict(params))
    assert is_valid(token, url, params, signature)
    assert is_valid(token, "https://api.example.com:443/api/v1/webhooks/twilio/whatsapp", params, signature)
    assert not is_valid(token, "http://internal:8000/api/v1/webhooks/twilio/whatsapp", params, signature)
    assert not is_valid("other-token", url, params, signature)
    tampered = FormMultiDict({**dict(params), "Body": "hi!"})
    assert not is_valid(token, url, tampered, signature)
