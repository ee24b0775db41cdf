"""The web front end served by the app: its pages (some need a session), its config and the phone QR code."""

from __future__ import annotations

import pytest

from tests.harness.web_session import cookie_session

pytestmark = pytest.mark.db

PHONE = "+14155552671"


async def test_pages_config_and_qr(client):
    home = await client.get("/")
    assert home.status_code == 200 and "text/html" in home.headers["content-type"]
    assert "Watches, notifies, acts" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    for path in ("/features", "/pricing", "/login", "/auth/callback", "/static/css/base.css", "/static/js/api.js"):
        assert (await client.get(path)).status_code == 200, path
    config = (await client.get("/api/v1/config")).json()
    assert config["sign_in"] == "dev" and config["simulator"] is False and config["supabase_anon_key"] is None
    settings = client.app.state.app_state.settings
    assert settings.dev_jwt_secret not in home.text and settings.fernet_keys[0] not in home.text

    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 303
    csrf = await cookie_session(client)
    assert (await client.get("/dashboard")).status_code == 200
    assert (await client.get("/login", follow_redirects=False)).headers["location"] == "/dashboard"

    none = await client.get("/api/v1/users/me/phone/qr")
    assert none.status_code == 404 and none.json()["code"] == "NO_PENDING_VERIFICATION"
    await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers={"X-CSRF-Token": csrf})
    qr = await client.get("/api/v1/users/me/phone/qr")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.content.lstrip().startswith(b"<?xml") or b"<svg" in qr.content[:200]
    # The simulator exists only with MOCK_TWILIO in development.
    sim = await client.post("/api/v1/dev/simulator/messages", json={"text": "hi"}, headers={"X-CSRF-Token": csrf})
    assert sim.status_code in (404, 405)
