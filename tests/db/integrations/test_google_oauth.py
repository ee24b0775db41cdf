"""Connecting Google services through the API and the Google stand-in: the round trip with PKCE, tokens
encrypted at rest, and every way a callback can be wrong refused with a 4xx that says what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.harness.google import connect, consent
from tests.harness.rows import sign_in
from yourclaw.db.models import OAuthState, UserIntegration

pytestmark = pytest.mark.db


async def test_connect_calendar_round_trip(api, google, sessions):
    headers, user_id = await sign_in(api)
    done = await connect(api, headers, "calendar", email="anna@example.com")
    assert done.status_code == 302
    assert done.headers["location"].endswith("/dashboard?connected=calendar#services")

    listed = (await api.get("/api/v1/oauth/integrations", headers=headers)).json()
    assert listed["available"] is True
    by_service = {i["service"]: i for i in listed["integrations"]}
    assert by_service["calendar"]["status"] == "connected"
    assert by_service["calendar"]["email"] == "anna@example.com"
    assert by_service["gmail"]["status"] == "not_connected" and by_service["drive"]["status"] == "not_connected"

    async with sessions() as s:
        row = await s.scalar(select(UserIntegration).where(UserIntegration.user_id == user_id))
    # Encrypted at rest: no token Google issued is stored as itself.
    assert row.access_token_encrypted and row.refresh_token_encrypted
    for token in google.issued:
        assert token not in row.access_token_encrypted and token not in row.refresh_token_encrypted
    assert "https://www.googleapis.com/auth/calendar.events" in row.scopes
    # The browser never sees a token either.
    assert not any(token in str(listed) for token in google.issued)


async def test_consent_url_asks_pkce_offline_and_least_scopes(api):
    headers, _ = await sign_in(api)
    url = (await api.get("/api/v1/oauth/google/gmail/connect", headers=headers)).json()["auth_url"]
    from tests.harness.google import query_of

    q = query_of(url)
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["access_type"] == "offline" and q["include_granted_scopes"] == "true"
    assert set(q["scope"].split()) == {
        "openid",
        "email",
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.compose",
    }


async def test_unknown_service_is_404(api):
    headers, _ = await sign_in(api)
    response = await api.get("/api/v1/oauth/google/photos/connect", headers=headers)
    assert response.status_code == 404 and response.json()["code"] == "UNKNOWN_SERVICE"


async def _started(api, headers, service="calendar"):
    url = (await api.get(f"/api/v1/oauth/google/{service}/connect", headers=headers)).json()["auth_url"]
    return await consent(api, url)


async def test_tampered_state_is_refused(api):
    headers, _ = await sign_in(api)
    back = await _started(api, headers)
    back["state"] = back["state"][:-2] + ("AA" if not back["state"].endswith("AA") else "BB")
    response = await api.get("/api/v1/oauth/google/calendar/callback", params=back, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "OAUTH_STATE_INVALID" and "Press Connect again" in response.json()["detail"]


async def test_state_for_another_service_is_refused(api):
    headers, _ = await sign_in(api)
    back = await _started(api, headers, "calendar")
    response = await api.get("/api/v1/oauth/google/gmail/callback", params=back, headers=headers)
    assert response.status_code == 400 and response.json()["code"] == "OAUTH_STATE_INVALID"


async def test_replayed_state_is_refused(api):
    headers, _ = await sign_in(api)
    back = await _started(api, headers)
    first = await api.get("/api/v1/oauth/google/calendar/callback", params=back, headers=headers)
    assert first.status_code == 302
    again = await api.get("/api/v1/oauth/google/calendar/callback", params=back, headers=headers)
    assert again.status_code == 400
    assert again.json()["code"] == "OAUTH_STATE_USED" and "used already" in again.json()["detail"]


async def test_expired_state_is_refused(api, sessions):
    headers, user_id = await sign_in(api)
    back = await _started(api, headers)
    async with sessions() as s:
        await s.execute(
            update(OAuthState)
            .where(OAuthState.user_id == user_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    response = await api.get("/api/v1/oauth/google/calendar/callback", params=back, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "OAUTH_STATE_EXPIRED" and "expired" in response.json()["detail"]


async def test_state_of_another_user_is_refused(api):
    headers_a, _ = await sign_in(api)
    headers_b, _ = await sign_in(api)
    back = await _started(api, headers_a)
    response = await api.get("/api/v1/oauth/google/calendar/callback", params=back, headers=headers_b)
    assert response.status_code == 403 and response.json()["code"] == "OAUTH_STATE_OTHER_USER"


async def test_pkce_verifier_mismatch_is_refused(api, google):
    """A code issued for another consent's challenge (an injected code): Google refuses our verifier."""
    headers, _ = await sign_in(api)
    ours = (await api.get("/api/v1/oauth/google/calendar/connect", headers=headers)).json()["auth_url"]
    theirs = (await api.get("/api/v1/oauth/google/calendar/connect", headers=headers)).json()["auth_url"]
    back_ours = await consent(api, ours)
    back_theirs = await consent(api, theirs)
    mixed = {"state": back_ours["state"], "code": back_theirs["code"]}
    response = await api.get("/api/v1/oauth/google/calendar/callback", params=mixed, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "OAUTH_EXCHANGE_REFUSED" and "PKCE" in body["detail"]
    assert back_theirs["code"] not in body["detail"]


async def test_saying_no_at_google_goes_back_to_the_dashboard(api):
    headers, _ = await sign_in(api)
    response = await api.get(
        "/api/v1/oauth/google/drive/callback", params={"error": "access_denied", "state": "x"}, headers=headers
    )
    assert response.status_code == 302 and "oauth_error=access_denied" in response.headers["location"]


async def test_callback_needs_the_signed_in_user(api):
    response = await api.get("/api/v1/oauth/google/calendar/callback", params={"state": "x", "code": "y"})
    assert response.status_code == 401
