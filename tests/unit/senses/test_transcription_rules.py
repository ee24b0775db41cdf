"""The transcription proxy's arithmetic and form reading: charged by the second rounded up, the worst case a
note's bytes can hold (never past the day's minutes), the duration as OpenAI-compatible answers give it, and
the multipart form an OpenAI client sends."""

from __future__ import annotations

import httpx
import pytest

from tests.harness.settings import make_settings
from yourclaw.senses.multipart import parse_form
from yourclaw.senses.transcription import _duration, price, worst_case_seconds

pytestmark = pytest.mark.unit


@pytest.fixture
def settings():
    return make_settings(
        "postgresql://u@h/db", TRANSCRIPTION_PRICE_MILLICENTS_PER_MINUTE="600", TRANSCRIPTION_MINUTES_PER_DAY="2"
    )


def test_audio_is_charged_by_the_second_rounded_up(settings):
    assert price(settings, 0) == 0
    assert price(settings, 0.2) == 10  # one second at 600 millicents a minute
    assert price(settings, 60) == 600
    assert price(settings, 12.3) == 130


def test_the_hold_is_what_the_bytes_can_hold_at_most_but_never_past_the_day(settings):
    assert worst_case_seconds(settings, 750) == 1
    assert worst_case_seconds(settings, 7501) == 11
    assert worst_case_seconds(settings, 10**9) == 120


def test_the_duration_comes_from_verbose_json_or_usage_and_nothing_else():
    assert _duration({"text": "x", "duration": 4.5}) == 4.5
    assert _duration({"text": "x", "usage": {"type": "duration", "seconds": 7}}) == 7.0
    assert _duration({"text": "x"}) is None
    assert _duration({"text": "x", "duration": -1}) is None
    assert _duration({"text": "x", "duration": "12"}) is None


def test_the_form_an_openai_client_sends_is_read():
    request = httpx.Request(
        "POST",
        "http://t/",
        files={"file": ("voice.ogg", b"OggS\r\n--not-a-boundary\x00", "audio/ogg")},
        data={"model": "gpt-4o-transcribe", "language": "pt"},
    )
    form = parse_form(request.headers["content-type"], request.read())
    assert form is not None
    assert (form.file, form.filename, form.file_type) == (b"OggS\r\n--not-a-boundary\x00", "voice.ogg", "audio/ogg")
    assert form.fields == {"model": "gpt-4o-transcribe", "language": "pt"}


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "multipart/form-data; boundary=é"])
def test_what_is_not_a_multipart_form_is_none(content_type):
    assert parse_form(content_type, b"{}") is None
