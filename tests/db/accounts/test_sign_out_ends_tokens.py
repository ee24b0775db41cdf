"""Signing out ends every way in that was issued before it: cookie sessions (already) and bearer tokens,
which can no longer be used nor exchanged for a new cookie; a sign-in after it works. Dev sign-in's tokens
live DEV_TOKEN_TTL_SECONDS."""

from __future__ import annotations

import jwt
import pytest
from litestar.testing import AsyncTestClient

from tests.harness.rows import sign_in
from tests.harness.settings import DEV_SECRET, make_settings
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db


async def test_signing_out_ends_the_bearer_tokens_issued_before_it(client):
    email = "bea@example.com"
    bearer, user_id = await sign_in(client, email)
    token = bearer["Authorization"].removeprefix("Bearer ")
    exchanged = await client.post("/api/v1/session", json={"access_token": token})
    assert exchanged.status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 200

    signed_out = await client.delete("/api/v1/session", headers={"X-CSRF-Token": exchanged.json()["csrf_token"]})
    assert signed_out.status_code == 204
    client.cookies.clear()

    refused = await client.get("/api/v1/users/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.json() == {
        "detail": "This sign-in ended when you signed out; sign in again",
        "code": "TOKEN_REVOKED",
    }
    again = await client.post("/api/v1/session", json={"access_token": token})
    assert again.status_code == 401 and again.json()["code"] == "TOKEN_REVOKED"

    fresh, same_user = await sign_in(client, email)
    assert same_user == user_id
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200


async def test_dev_tokens_live_dev_token_ttl_seconds(database_url, db):
    for env, ttl in (({}, 3600), ({"DEV_TOKEN_TTL_SECONDS": "120"}, 120)):
        async with AsyncTestClient(app=create_app(make_settings(database_url, **env))) as client:
            login = (await client.post("/api/v1/dev/login", json={"email": "ttl@example.com"})).json()
        claims = jwt.decode(login["access_token"], DEV_SECRET, algorithms=["HS256"], audience="authenticated")
        assert login["expires_in"] == ttl and claims["exp"] - claims["iat"] == ttl


async def test_signing_out_with_a_bearer_token_ends_it_and_the_cookie_sessions(client):
    email = "ben@example.com"
    bearer, _ = await sign_in(client, email)
    other, _ = await sign_in(client, email)
    exchanged = await client.post("/api/v1/session", json={"access_token": other["Authorization"][7:]})
    assert exchanged.status_code == 200
    cookies = dict(client.cookies)
    client.cookies.clear()

    assert (await client.delete("/api/v1/session", headers=bearer)).status_code == 204

    for headers in (bearer, other):
        refused = await client.get("/api/v1/users/me", headers=headers)
        assert refused.status_code == 401 and refused.json()["code"] == "TOKEN_REVOKED"
    assert (await client.get("/api/v1/users/me", cookies=cookies)).status_code == 401
    # A token that has already ended cannot sign the user out of a sign-in made since.
    fresh, _ = await sign_in(client, email)
    again = await client.delete("/api/v1/session", headers=bearer)
    assert again.status_code == 401 and again.json()["code"] == "TOKEN_REVOKED"
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200
    assert (await client.delete("/api/v1/session", headers={"Authorization": "Bearer nonsense"})).status_code == 401
