"""Logs: one JSON line per event, with the request's context and never a secret."""

from __future__ import annotations

import json

import pytest
import structlog

from yourclaw.kit.logs import configure_logging

pytestmark = pytest.mark.unit


def test_logs_are_json_and_never_carry_secrets(capsys):
    configure_logging("INFO")
    structlog.contextvars.bind_contextvars(request_id="r1", user_id="u1")
    structlog.get_logger("t").info(
        "event",
        token="yca_abc",
        api_key="sk-1",
        authorization="Bearer x",
        secret_bytes=b"raw",
        dedupe_key="k",
        input_tokens=1200,
        own_key=True,
    )
    structlog.contextvars.clear_contextvars()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "r1" and line["user_id"] == "u1"
    assert line["token"] == line["api_key"] == line["authorization"] == line["secret_bytes"] == "[redacted]"
    assert line["dedupe_key"] == "k"
    # Counts and flags are no secret: usage logs stay readable.
    assert line["input_tokens"] == 1200 and line["own_key"] is True
