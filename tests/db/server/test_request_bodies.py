"""What any route does with a body before it knows who sent it: bounded in size, and malformed ones answered
with a 4xx `{detail, code}`."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from tests.harness.app_lifespan import running
from tests.harness.asgi import CHUNK, asgi_request
from tests.harness.rows import make_assistant, sign_in
from tests.harness.settings import make_settings
from yourclaw.kit.crypto import SecretBox
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

JSON_ROUTES = [
    ("PATCH", "/api/v1/users/me"),
    ("POST", "/api/v1/users/me/phone"),
    ("POST", "/api/v1/session"),
    ("POST", "/api/v1/dev/login"),
    ("POST", "/api/v1/runtime/outbound"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_large_body_from_nobody_is_refused_unread(database_url, db, method, path):
    settings = make_settings(database_url, REQUEST_MAX_BODY_BYTES=str(CHUNK))
    async with running(create_app(settings)) as app:
        answer = await asgi_request(app, method, path, {"content-type": "application/json"}, chunks=8)
    assert answer.status == 413
    assert json.loads(answer.body)["code"] == "PAYLOAD_TOO_LARGE"
    assert answer.chunks_read == 0


DEEP = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
NOT_UTF8 = b'{"email": "\xff\xfe@example.com", "phone": "\xff", "access_token": "\xff", "text": "\xff"}'


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize(("body", "detail"), [(DEEP, "nested too deeply"), (NOT_UTF8, "not valid UTF-8")])
async def test_malformed_json_is_a_400_before_sign_in_and_logs_no_error(client, method, path, body, detail):
    with capture_logs() as logs:
        response = await client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": response.json()["detail"], "code": "MALFORMED_JSON"}
    assert detail in response.json()["detail"]
    assert [line for line in logs if line["log_level"] in ("error", "critical") or "exc_info" in line] == []


async def test_malformed_json_to_the_llm_proxy_is_an_anthropic_400(database_url, db, sessions):
    settings = make_settings(database_url)
    _, _, token = await make_assistant(sessions, SecretBox(settings.fernet_keys))
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": token}
    async with running(create_app(settings)) as app:
        for body in (
            b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b'{"model": "\xff", "max_tokens": 5, "messages": []}',
        ):
            with capture_logs() as logs:
                answer = await asgi_request(app, "POST", "/llm/anthropic/v1/messages", headers, chunks=1, chunk=body)
            assert answer.status == 400
            assert json.loads(answer.body)["error"]["type"] == "invalid_request_error"
            assert [line for line in logs if line["log_level"] in ("error", "critical")] == []


# --- NUL: PostgreSQL stores none in text or JSONB --------------------------------------------------


async def test_a_nul_anywhere_in_a_json_body_is_a_422_before_the_database(client, sessions, settings):
    _, _, token = await make_assistant(sessions, SecretBox(settings.fernet_keys))
    signed_in, _ = await sign_in(client)
    assistant = {"Authorization": f"Bearer {token}", "Idempotency-Key": "m1-0"}
    cases = [
        ("POST", "/api/v1/dev/login", {}, {"email": "a\u0000b@example.com"}, "body.email"),
        ("POST", "/api/v1/runtime/outbound", assistant, {"kind": "proactive", "text": "a\u0000b"}, "body.text"),
        ("PATCH", "/api/v1/users/me", signed_in, {"timezone": "Europe/Paris\u0000"}, "body.timezone"),
        ("POST", "/api/v1/users/me/phone", signed_in, {"phone": "+14155550177", "timezone": "\u0000"}, "timezone"),
        ("POST", "/api/v1/runtime/outbound", assistant, {"kind": "reply", "text": "x", "in\u0000": 1}, "a key"),
    ]
    for method, path, headers, body, where in cases:
        with capture_logs() as logs:
            response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["code"] == "NUL_CHARACTER"
        assert where in response.json()["detail"]
        assert [line for line in logs if line["log_level"] in ("error", "critical")] == []


async def test_an_escaped_backslash_before_u0000_is_text_not_nul(client):
    response = await client.post("/api/v1/dev/login", json={"email": "a\\u0000b@example.com"})
    assert response.status_code == 200, response.text
