"""The proxy knows who calls before it reads what they send: a stranger's 32 MiB body is refused with 401
before a byte of it is read, on the Messages call (a bare route) and on the token count (a Litestar route)."""

from __future__ import annotations

import json

import pytest

from tests.harness.app_lifespan import running
from tests.harness.asgi import asgi_request
from tests.harness.rows import make_assistant
from tests.harness.settings import make_settings
from yourclaw.kit.crypto import SecretBox
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

PATHS = ["/llm/anthropic/v1/messages", "/llm/anthropic/v1/messages/count_tokens"]
STRANGERS = [
    {},
    {"x-api-key": "sk-ant-not-ours"},
    {"x-api-key": "yca_" + "x" * 43},  # shaped like ours, in no row
    {"authorization": "Bearer yca_" + "y" * 43},
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("headers", STRANGERS)
async def test_a_stranger_is_refused_before_the_body_is_read(database_url, db, path, headers):
    async with running(create_app(make_settings(database_url))) as app:
        answer = await asgi_request(
            app,
            "POST",
            path,
            {"content-type": "application/json", "anthropic-version": "2023-06-01", **headers},
            chunks=32,
        )
    assert answer.status == 401
    assert json.loads(answer.body)["error"]["type"] == "authentication_error"
    assert answer.chunks_read == 0


@pytest.mark.parametrize("path", PATHS)
async def test_a_known_caller_still_has_its_body_read(database_url, db, sessions, path):
    settings = make_settings(database_url)
    _, _, token = await make_assistant(sessions, SecretBox(settings.fernet_keys))
    async with running(create_app(settings)) as app:
        answer = await asgi_request(
            app,
            "POST",
            path,
            {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": token},
            chunks=1,
            chunk=b"{not json",
        )
    # Read and judged: not a refusal of the caller.
    assert answer.chunks_read == 1
    assert answer.status != 401
