"""The scan of a run's product logs finds what must not be there, and lets through what may."""

from __future__ import annotations

import pytest

from tests.harness.log_scan import LogScan

pytestmark = pytest.mark.unit


def _found(line: str, **known: str) -> list[str]:
    scan = LogScan()
    for what, value in known.items():
        scan.register(value, what)
    scan.collect(line, "test")
    return [leak.what for leak in scan.leaks()]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ('{"event": "sent", "to": "+14155550199"}', "phone number"),
        ('{"event": "sent", "to": "whatsapp:+447700900123"}', "phone number"),
        ("poll from yca_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd", "assistant token"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlX2hlcmU", "JWT"),
        ("key=sk_test_4eC39HqLyjWDarjtT1zdp7dc", "Stripe secret"),
        ("key=sk-ant-api03-abcdefghijkl", "Anthropic key"),
    ],
)
def test_a_secret_shape_is_found(line, what):
    assert _found(line) == [what]


def test_a_registered_body_is_found_wherever_it_appears():
    assert _found("routing failed for meet me at nine by the pier", body="meet me at nine by the pier") == ["body"]


@pytest.mark.parametrize(
    "line",
    [
        '{"event": "sent", "to": "+1415•••2671"}',  # masked
        '{"event": "sent", "from": "whatsapp:+14155238886"}',  # our own sender number
        '{"timestamp": "2026-12-07T11:51:31.780026+00:00", "duration_ms": 1.28}',
        '{"event": "inbound", "text": "hi"}',  # a value too short to tell from ordinary words
    ],
)
def test_what_may_appear_is_not_a_leak(line):
    assert _found(line, body="hi") == []


def test_a_body_of_one_plain_word_is_not_looked_for():
    # "proactive" is a stand-in command a test sends, and a word of ordinary event names.
    assert _found('{"event": "outbound_reply_sent_as_proactive"}', body="proactive") == []
    assert _found("user wrote proactive 2 hello there", body="proactive 2 hello there") == ["body"]
