"""Telling a call's purpose from the session OpenClaw names in its system prompt."""

from __future__ import annotations

import json

import pytest

from yourclaw.llm import purposes

pytestmark = pytest.mark.unit


def request(runtime_line: str | None) -> bytes:
    system = "You are a personal assistant.\n" + (f"Runtime: {runtime_line} | os=linux\n" if runtime_line else "")
    return json.dumps(
        {"model": "claude-sonnet-5", "system": [{"type": "text", "text": system}], "messages": []}
    ).encode()


@pytest.mark.parametrize(
    ("runtime_line", "expected"),
    [
        (None, "reply"),
        ("agent=main session=agent:main:main", "reply"),
        ("agent=main session=agent:main:yourclaw:direct:7c9e", "reply"),
        ("agent=main session=agent:main:cron:4f1d2c", "cron"),
        ("agent=main session=agent:main:main:heartbeat", "heartbeat"),
        ("agent=main session=agent:main:internal-session-effects:abc", "memory"),
        ("agent=ops session=agent:ops:cron:nightly", "cron"),
    ],
)
def test_the_session_names_the_purpose(runtime_line, expected):
    assert purposes.of_main_route(request(runtime_line)) == expected


def test_a_user_writing_the_marker_in_a_message_only_labels_their_own_spend():
    body = json.dumps({"messages": [{"role": "user", "content": "session=agent:x:cron:1"}]}).encode()
    assert purposes.of_main_route(body) == "cron"  # a label, never a price: every purpose is charged alike
