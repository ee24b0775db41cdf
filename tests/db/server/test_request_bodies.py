"""What any route does with a body before it knows who sent it: bounded in size, and malformed ones answered
with a 4xx `{detail, code}`."""

from __future__ import annotations

import json

import pytest

from tests.harness.app_lifespan import running
from tests.harness.asgi import CHUNK, asgi_request
from tests.harness.settings import make_settings
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
