"""The browser session: a signed HttpOnly cookie in exchange for a verified token, CSRF on cookie writes,
Bearer unchanged, sign-out."""

from __future__ import annotations

import time
import uuid

import pytest
from litestar.testing import AsyncTestClient

from tests.harness.rows import sign_in
from tests.harness.settings import make_settings
from tests.harness.web_session import cookie_session
from yourclaw.accounts import web_session
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

PHONE = "+14155552671"


def _set_cookies(response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the raw header: flags included)."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def test_session_cookie_flags_and_cookie_auth(client):
    headers, user_id = await sign_in(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    response = await client.post("/api/v1/session", json={"access_token": token})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == str(user_id)
    cookies = _set_cookies(response)
    session_cookie = cookies[web_session.SESSION_COOKIE].lower()
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie and "path=/" in session_cookie
    # APP_URL is plain-HTTP loopback in tests: a Secure cookie would never come back.
    assert "secure" not in session_cookie
    assert "max-age=1209600" in session_cookie  # 14 days
    csrf_cookie = cookies[web_session.CSRF_COOKIE].lower()
    assert "httponly" not in csrf_cookie
    assert client.cookies[web_session.CSRF_COOKIE] == body["csrf_token"]

    me = await client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["id"] == str(user_id)
    shown = await client.get("/api/v1/session")
    assert shown.status_code == 200 and shown.json()["csrf_token"] == body["csrf_token"]


async def test_cookie_writes_need_the_csrf_token(client):
    csrf = await cookie_session(client)

    missing = await client.post("/api/v1/users/me/phone", json={"phone": PHONE})
    assert missing.status_code == 403 and missing.json()["code"] == "CSRF_TOKEN_INVALID"
    wrong = await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403 and wrong.json()["code"] == "CSRF_TOKEN_INVALID"
    # Another session's token does not fit this one.
    other = web_session.csrf_token(client.app.state.app_state.settings, "another-session-id")
    stolen = await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers={"X-CSRF-Token": other})
    assert stolen.status_code == 403

    ok = await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["verification"]["message"].startswith("link ")
    # Reads need no token.
    assert (await client.get("/api/v1/assistants")).status_code == 200


async def test_bearer_needs_no_csrf_and_wins_over_the_cookie(client):
    await cookie_session(client)
    headers, user_id = await sign_in(client)
    response = await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers=headers)
    assert response.status_code == 200, response.text
    me = await client.get("/api/v1/users/me", headers=headers)
    assert me.json()["id"] == str(user_id)
    bad = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and bad.json()["code"] == "INVALID_TOKEN"


async def test_sign_out_clears_the_session(client):
    csrf = await cookie_session(client)
    refused = await client.delete("/api/v1/session")
    assert refused.status_code == 403 and refused.json()["code"] == "CSRF_TOKEN_INVALID"

    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    cookies = _set_cookies(response)
    for name in (web_session.SESSION_COOKIE, web_session.CSRF_COOKIE):
        assert "max-age=0" in cookies[name].lower()
    assert web_session.SESSION_COOKIE not in client.cookies
    gone = await client.get("/api/v1/users/me")
    assert gone.status_code == 401 and gone.json()["code"] == "NOT_AUTHENTICATED"
    page = await client.get("/dashboard", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fdashboard"


async def test_sign_out_voids_a_copied_session_cookie_and_a_new_sign_in_works(client):
    email = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    csrf = await cookie_session(client, email)
    me = (await client.get("/api/v1/users/me")).json()
    copied = client.cookies[web_session.SESSION_COOKIE]
    assert (await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})).status_code == 204

    client.cookies.set(web_session.SESSION_COOKIE, copied)
    stolen = await client.get("/api/v1/users/me")
    assert stolen.status_code == 401 and stolen.json()["code"] == "SESSION_EXPIRED"
    assert (await client.get("/api/v1/session")).status_code == 401
    client.cookies.clear()

    await cookie_session(client, email)
    again = await client.get("/api/v1/users/me")
    assert again.status_code == 200 and again.json()["id"] == me["id"]


async def test_forged_or_expired_cookies_are_refused(client):
    settings = client.app.state.app_state.settings
    expired, _ = web_session.issue(settings, uuid.uuid4(), "a@example.com", now=int(time.time()) - 30 * 86400)
    other = make_settings(settings.database_url or "")  # another ENCRYPTION_KEY
    forged, _ = web_session.issue(other, uuid.uuid4(), "b@example.com")
    for value in (expired, forged, "not-a-token"):
        client.cookies.set(web_session.SESSION_COOKIE, value)
        response = await client.get("/api/v1/users/me")
        assert response.status_code == 401 and response.json()["code"] == "SESSION_EXPIRED"
        page = await client.get("/onboarding", follow_redirects=False)
        assert page.status_code == 303


async def test_session_exchange_refuses_cross_site_and_bad_tokens(client):
    headers, _ = await sign_in(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    form = await client.post(
        "/api/v1/session", content=f'{{"access_token": "{token}"}}', headers={"Content-Type": "text/plain"}
    )
    assert form.status_code == 415
    foreign = await client.post(
        "/api/v1/session", json={"access_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "CROSS_SITE_REQUEST"
    forged = await client.post("/api/v1/session", json={"access_token": token[:-4] + "AAAA"})
    assert forged.status_code == 401
    assert web_session.SESSION_COOKIE not in client.cookies


async def test_cookies_are_secure_outside_localhost(database_url, engine):
    settings = make_settings(database_url, APP_URL="https://app.example.com", API_URL="https://api.example.com")
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers, _ = await sign_in(client)
        token = headers["Authorization"].removeprefix("Bearer ")
        response = await client.post(
            "/api/v1/session", json={"access_token": token}, headers={"Origin": "https://app.example.com"}
        )
        assert response.status_code == 200, response.text
        for header in _set_cookies(response).values():
            assert "secure" in header.lower()
    from tests.harness.database import truncate

    await truncate(engine)
