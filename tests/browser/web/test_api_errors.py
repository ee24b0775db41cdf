"""An API refusal reaches the person as the API's own words: a number already linked to another account is
refused at onboarding with the server's `detail`, not a generic failure (and not its machine code)."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import expect

from tests.harness.dev_server import DevServer
from tests.harness.waiting import wait_for_sync

NUMBER = "+14155550123"


def _link_number_to_someone_else(base: str) -> None:
    """Another user verifies NUMBER first, through the API and the simulator, as they would on their phone."""
    with httpx.Client(base_url=base, timeout=10) as api:
        login = api.post("/api/v1/dev/login", json={"email": f"first-{uuid.uuid4().hex[:6]}@example.com"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        pending = api.post("/api/v1/users/me/phone", json={"phone": NUMBER}, headers=headers)
        assert pending.status_code in (200, 201), pending.text
        code = pending.json()["verification"]["code"]
        sent = api.post("/api/v1/dev/simulator/messages", json={"text": f"link {code}"}, headers=headers)
        assert sent.status_code == 202, sent.text

        def verified() -> bool:
            phone = api.get("/api/v1/users/me", headers=headers).json().get("phone") or {}
            return bool(phone.get("verified"))

        wait_for_sync(verified, timeout=20, message="the first user's number to be verified")


def test_a_taken_number_is_refused_with_the_apis_words(browser, dev_server: DevServer) -> None:
    base = dev_server.url
    _link_number_to_someone_else(base)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(base + "/login")
        page.get_by_label("Email").fill(f"second-{uuid.uuid4().hex[:6]}@example.com")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/onboarding$"))
        page.get_by_label("Country").select_option("US")
        page.get_by_label("Number", exact=True).fill("415 555 0123")
        page.get_by_role("button", name="Verify on WhatsApp").click()
        notice = page.locator("#phone-notice")
        expect(notice).to_contain_text("already linked to another account")
        # In words only: the machine code stays in the API's answer.
        expect(notice).not_to_contain_text("PHONE_TAKEN")
        expect(page.get_by_label("Number", exact=True)).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#step-verify")).to_be_hidden()
        assert errors == []
    finally:
        context.close()
