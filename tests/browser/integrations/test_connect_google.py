"""Connected services in a real browser against `yourclaw dev` (MOCK_GOOGLE: the Google stand-in): the
dashboard's Connect for Calendar leads to the stand-in's consent page, "Allow" comes back to the dashboard with
Calendar connected and the account's email shown; Disconnect takes it away. A callback with a state we did not
make is refused with a 4xx that says so. Screenshots land in test-artifacts/browser/."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.harness.dev_server import ARTIFACTS, DevServer

STEP_TIMEOUT = 20_000


def test_connect_and_disconnect_calendar(browser, dev_server: DevServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(STEP_TIMEOUT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = dev_server.url
    shots = ARTIFACTS / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(base + "/login?next=/dashboard")
        page.get_by_label("Email").fill(f"google-{uuid.uuid4().hex[:6]}@example.com")
        page.get_by_role("button", name="Sign in").click()
        # Signed in: the session cookie is set and the page has moved on from /login.
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/(dashboard|onboarding)"))
        page.goto(base + "/dashboard#services")
        calendar = page.locator('[data-service="calendar"]')
        expect(calendar.locator("[data-status]")).to_have_text("Not connected")
        expect(calendar).to_contain_text("see what is on your calendar")
        page.screenshot(path=str(shots / "services-before.png"), full_page=True)

        calendar.get_by_role("button", name="Connect").click()
        # The Google stand-in's consent page, on its own port.
        page.wait_for_url(re.compile(r"/o/oauth2/v2/auth\?"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("wants to access your Google Account")
        assert "code_challenge_method=S256" in page.url
        page.get_by_label("Account").fill("anna@example.com")
        page.screenshot(path=str(shots / "google-consent.png"), full_page=True)
        page.get_by_role("button", name="Allow").click()

        expect(page).to_have_url(re.compile(r"/dashboard"))
        calendar = page.locator('[data-service="calendar"]')
        expect(calendar.locator("[data-status]")).to_have_text("Connected")
        expect(calendar.locator("[data-email]")).to_have_text("anna@example.com")
        expect(page.locator('[data-service="gmail"] [data-status]')).to_have_text("Not connected")
        assert "connected=" not in page.url  # the notice is not repeated on reload
        page.screenshot(path=str(shots / "services-connected.png"), full_page=True)

        calendar.get_by_role("button", name="Disconnect").click()
        page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
        expect(page.locator('[data-service="calendar"] [data-status]')).to_have_text("Not connected")

        # A state we never made: refused, with a message a person can act on.
        response = page.goto(base + "/api/v1/oauth/google/calendar/callback?state=forged&code=4%2Fabc")
        assert response is not None and response.status == 400
        assert "Press Connect again" in page.content() and "OAUTH_STATE_INVALID" in page.content()
        assert errors == []
    finally:
        context.close()
