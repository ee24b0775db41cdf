"""Users' own Anthropic keys (BYOK) through the API, with the key checked against the local Anthropic standin:
the round trip, shape and acceptance checks, scoping to the signed-in user, and the key never showing up
in a response, an error or a log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from tests.harness.ports import free_port
from tests.harness.rows import sign_in
from tests.harness.settings import make_settings
from yourclaw.db.models import ApiKey
from yourclaw.kit.logs import configure_logging
from yourclaw.server.app import create_app
from yourclaw.standins.anthropic import AnthropicStandin

pytestmark = pytest.mark.db

KEYS = "/api/v1/api-keys"
GOOD_KEY = "sk-ant-api03-" + "G00d_k3y-" * 10 + "wxyz"
REFUSED_KEY = "sk-ant-api03-" + "Refused-" * 10 + "abcd"


@pytest.fixture
async def standin() -> AsyncIterator[AnthropicStandin]:
    standin = AnthropicStandin(accepted_keys={GOOD_KEY})
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
async def api(database_url, db, standin) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(
        database_url, ANTHROPIC_API_KEY="sk-ant-shared-" + "s" * 30, ANTHROPIC_BASE_URL=standin.base_url
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def put_key(client: AsyncTestClient, headers: dict[str, str], key: str, provider: str = "ANTHROPIC"):
    return await client.post(KEYS, json={"provider": provider, "key": key}, headers=headers)


async def test_set_show_and_remove_an_own_key(api, standin, sessions):
    headers, user_id = await sign_in(api)
    none = await api.get(KEYS, headers=headers)
    assert none.status_code == 200
    assert none.json() == {"provider": "ANTHROPIC", "set": False, "last4": None, "updated_at": None}

    stored = await put_key(api, headers, f"  {GOOD_KEY}\n")
    assert stored.status_code == 201
    body = stored.json()
    assert body["provider"] == "ANTHROPIC" and body["set"] is True and body["last4"] == "wxyz" and body["updated_at"]
    # Checked with Anthropic, with the key itself.
    (check,) = standin.requests
    assert check.path == "/v1/models" and check.headers["x-api-key"] == GOOD_KEY

    shown = await api.get(KEYS, headers=headers)
    assert shown.json() == body
    async with sessions() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.user_id == user_id))
        assert row.key_hint == "wxyz" and GOOD_KEY not in row.encrypted_key

    assert (await api.delete(KEYS, headers=headers)).status_code == 204
    assert (await api.get(KEYS, headers=headers)).json()["set"] is False
    assert (await api.delete(KEYS, headers=headers)).status_code == 204  # nothing to remove is fine


@pytest.mark.parametrize(
    "key",
    ["", "sk-ant-short", "sk-proj-" + "a" * 60, "sk-ant-api03-" + "a" * 40 + " spaces " + "b" * 10, "x" * 5000],
)
async def test_a_key_of_the_wrong_shape_is_refused_without_asking_anthropic(api, standin, key):
    headers, _ = await sign_in(api)
    response = await put_key(api, headers, key)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_API_KEY"
    if key:
        assert key.strip() not in response.text
    assert standin.requests == []


async def test_a_key_anthropic_refuses_is_not_stored(api, standin):
    headers, _ = await sign_in(api)
    response = await put_key(api, headers, REFUSED_KEY)
    assert response.status_code == 422
    assert response.json()["code"] == "API_KEY_REJECTED"
    assert REFUSED_KEY not in response.text
    assert (await api.get(KEYS, headers=headers)).json()["set"] is False


async def test_an_unreachable_anthropic_answers_503(database_url, db):
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(database_url, ANTHROPIC_API_KEY="sk-ant-shared-" + "s" * 30, ANTHROPIC_BASE_URL=nowhere)
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers, _ = await sign_in(client)
        response = await put_key(client, headers, GOOD_KEY)
    assert response.status_code == 503
    assert response.json()["code"] == "PROVIDER_UNAVAILABLE"
    assert GOOD_KEY not in response.text


async def test_only_anthropic_is_a_provider(api, standin):
    headers, _ = await sign_in(api)
    response = await put_key(api, headers, GOOD_KEY, provider="OPENAI")
    assert response.status_code == 422
    assert GOOD_KEY not in response.text
    assert standin.requests == []


async def test_a_user_cannot_see_or_remove_another_users_key(api):
    alice, _ = await sign_in(api, "alice@example.com")
    bob, _ = await sign_in(api, "bob@example.com")
    assert (await put_key(api, alice, GOOD_KEY)).status_code == 201

    assert (await api.get(KEYS, headers=bob)).json()["set"] is False
    assert (await api.delete(KEYS, headers=bob)).status_code == 204
    assert (await api.get(KEYS, headers=alice)).json()["last4"] == "wxyz"
    assert (await api.get(KEYS)).status_code == 401


async def test_the_dev_stand_in_accepts_any_well_formed_key_without_a_check(client):
    headers, _ = await sign_in(client)
    response = await put_key(client, headers, REFUSED_KEY)
    assert response.status_code == 201 and response.json()["last4"] == "abcd"


async def test_the_key_never_appears_in_logs(api, capsys, caplog):
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        headers, _ = await sign_in(api)
        for key in (GOOD_KEY, REFUSED_KEY, GOOD_KEY[:-1] + " "):
            await put_key(api, headers, key)
        await api.get(KEYS, headers=headers)
        await api.delete(KEYS, headers=headers)
        captured = capsys.readouterr()
        logged = captured.out + captured.err + caplog.text
        assert "api_key_set" in logged  # the logs were captured
        for key in (GOOD_KEY, REFUSED_KEY, GOOD_KEY[:-1]):
            assert key not in logged
    finally:
        configure_logging("INFO")
