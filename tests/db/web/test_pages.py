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
    for path in (
        "/features",
        "/pricing",
        "/privacy",
        "/terms",
        "/login",
        "/auth/callback",
        "/static/css/base.css",
        "/static/js/api.js",
    ):
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


async def test_privacy_and_terms_are_pages_linked_from_every_footer(client):
    for path, words in (
        ("/privacy", ("Twilio", "Stripe", "Anthropic", "Google", "memory files", "30 days")),
        ("/terms", ("$20",)),
    ):
        page = await client.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"], path
        for word in words:
            assert word in page.text, (path, word)
    for path in ("/", "/features", "/pricing"):
        text = (await client.get(path)).text
        assert 'href="/privacy"' in text and 'href="/terms"' in text, path


async def test_a_browser_gets_a_branded_404_page_and_the_api_keeps_its_json(client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = await client.get("/no-such-page", headers=browser)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "Page not found" in page.text and "NOT_FOUND" not in page.text and "{{" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # The API, a script's fetch, and an asset keep the JSON envelope, even when they ask for HTML.
    for path, headers in (
        ("/api/v1/nothing-here", browser),
        ("/no-such-page", {"Accept": "application/json"}),
        ("/static/js/nope.js", browser),
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND", path
