"""A newcomer's whole journey in a real browser: the landing page, the legal pages and an unknown address, dev
sign-in, the WhatsApp number (a wrong one first), verification through the simulator, the dashboard before
paying (no billing portal, no made-up numbers, a message kept from before the assistant existed, the time
zone changed and kept), Checkout on the local Stripe stand-in, provisioning to READY, a first conversation
with typing dots and delivery marks, what the assistant can do in one click, its recent activity, an API key
refused next to its field then added and removed, sign-out. On a desktop screen and at 360 and 390 px; no
console error but the deliberate ones, no raw error code on any page, no request beyond 127.0.0.1, no serious
accessibility violation on the landing, onboarding and dashboard pages. Screenshots and axe reports land in
test-artifacts/browser/."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.browser.web.support import Shots, Watch
from tests.harness.dev_server import DevServer

READY_TIMEOUT = 90_000
STEP_TIMEOUT = 20_000


@dataclass
class Screen:
    name: str
    viewport: dict
    mobile: bool
    country: str  # the <select> value
    valid: str  # typed as a national number
    invalid: str


SCREENS = [
    Screen(
        "desktop",
        {"width": 1280, "height": 860},
        False,
        "US",
        f"415 555 {random.randint(1000, 9999)}",
        "415 555",
    ),
    Screen(
        "phone-360",
        {"width": 360, "height": 740},
        True,
        "FR",
        f"06 12 {random.randint(10, 99)} {random.randint(10, 99)} {random.randint(10, 99)}",
        "06 12 34",
    ),
    Screen(
        "phone-390",
        {"width": 390, "height": 844},
        True,
        "US",
        f"646 555 {random.randint(1000, 9999)}",
        "646 55",
    ),
]


def _in_viewport_below(page: Page, message: str, field: str) -> None:
    """The error `message` is on screen, right under `field` (not at the top of a card, out of sight)."""
    expect(page.locator(message)).to_be_in_viewport()
    below = page.locator(message).bounding_box()
    above = page.locator(field).bounding_box()
    assert 0 <= below["y"] - (above["y"] + above["height"]) < 90, (above, below)


def _open_menu_if_collapsed(page: Page) -> None:
    toggle = page.locator("#menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.name)
def test_the_whole_journey(browser, dev_server: DevServer, screen: Screen) -> None:
    context = browser.new_context(
        viewport=screen.viewport,
        is_mobile=screen.mobile,
        has_touch=screen.mobile,
        device_scale_factor=2 if screen.mobile else 1,
        timezone_id="Europe/Paris",
        locale="en-US",
    )
    context.set_default_timeout(STEP_TIMEOUT)
    page = context.new_page()
    watch = Watch(origin=dev_server.url)
    watch.attach(page)
    shots = Shots(page, screen.name, screen.viewport["width"])
    base = dev_server.url
    try:
        # The landing page and the marketing pages.
        page.goto(base + "/")
        expect(page.locator("h1")).to_contain_text("always-on AI assistant")
        expect(page.locator("#demo-chat")).to_be_attached()
        shots.take("landing")
        shots.accessible("landing")
        for path in ("/features", "/pricing", "/privacy", "/terms"):
            page.goto(base + path)
            expect(page.locator("h1")).to_be_visible()
            shots.take(path.strip("/"))
        expect(page.locator(".site-footer").get_by_role("link", name="Privacy")).to_have_attribute("href", "/privacy")
        # An unknown address is our own page, not the API's JSON.
        watch.expect_failure(404, r"/no-such-page$")
        answer = page.goto(base + "/no-such-page")
        assert answer.status == 404 and "text/html" in answer.headers["content-type"]
        expect(page.locator("h1")).to_have_text("Page not found")
        shots.take("not-found")
        page.goto(base + "/")
        page.get_by_role("link", name="Get started — $20/month").click()

        # Dev sign-in (no Supabase configured here), ending in the session cookie.
        expect(page).to_have_url(re.compile(r"/login$"))
        shots.take("login")
        page.get_by_label("Email").fill(f"journey-{screen.name}-{uuid.uuid4().hex[:6]}@example.com")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/onboarding$"))
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["yourclaw_session"]["httpOnly"] and cookies["yourclaw_session"]["sameSite"] == "Lax"

        # The number: a wrong one first, then the right one; the timezone goes along.
        page.get_by_label("Country").select_option(screen.country)
        page.get_by_label("Number", exact=True).fill(screen.invalid)
        page.get_by_role("button", name="Verify on WhatsApp").click()
        expect(page.locator("#phone-feedback")).to_have_class("field-error")
        expect(page.locator("#phone-feedback")).to_contain_text("Too short")
        expect(page.get_by_label("Number", exact=True)).to_have_attribute("aria-invalid", "true")
        shots.take("onboarding-invalid")
        shots.accessible("onboarding")
        page.get_by_label("Number", exact=True).fill(screen.valid)
        expect(page.locator("#phone-feedback")).to_contain_text("Looks right")
        page.get_by_role("button", name="Verify on WhatsApp").click()

        # Verify: the wa.me link and QR code, then "link <code>" from the simulator; the page notices by itself.
        expect(page.locator("#step-verify")).to_be_visible()
        expect(page.locator("#verify-link")).to_have_attribute(
            "href", re.compile(r"^https://wa\.me/\d+\?text=link%20\d{6}$")
        )
        expect(page.locator("#verify-qr")).to_have_js_property("complete", True)
        assert page.locator("#verify-qr").evaluate("img => img.naturalWidth") > 0
        shots.take("onboarding-verify")
        page.locator("#sim-block").get_by_role("button", name=re.compile("^Send “link \\d{6}”$")).click()
        expect(page.locator("#step-done")).to_be_visible()
        shots.take("onboarding-verified")
        page.get_by_role("link", name="Continue to your dashboard").click()

        # The dashboard before paying: nothing offered that cannot apply, no numbers that mean nothing yet.
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        expect(page.locator("#acct-tz")).to_have_text("Europe/Paris")
        create = page.get_by_role("button", name="Create my assistant")
        expect(create).to_be_visible()
        expect(page.get_by_role("button", name="Subscribe — $20/month")).to_be_visible()
        expect(page.get_by_role("button", name="Manage billing")).to_have_count(0)
        expect(page.locator("#usage-card")).to_contain_text("Credits start when you subscribe")
        expect(page.locator("#assistant-today")).to_have_text("0")  # "You're all set" is our notice, not a reply
        expect(page.locator('#checklist li[data-step="verified"]')).to_have_class("done")
        expect(page.locator('#checklist li[data-step="subscribed"]')).not_to_have_class("done")
        expect(page.locator("#examples li")).to_have_count(6)
        shots.take("dashboard-empty")
        shots.accessible("dashboard-empty")

        # A message written before the assistant exists stays in the conversation after a reload.
        sim = page.locator("#sim")
        sim.get_by_label("Message").fill("anyone home?")
        sim.get_by_role("button", name="Send").click()
        expect(sim.locator(".bubble.them").last).to_contain_text("have an assistant yet", timeout=STEP_TIMEOUT)
        page.reload()
        expect(sim.locator('.bubble[data-direction="in"]', has_text="anyone home?")).to_have_count(1)

        # The time zone: changed by hand, kept across a reload, then set back to this device's in one click.
        page.locator("#tz-change").click()
        page.locator("#tz-select").select_option("America/New_York")
        page.locator("#tz-save").click()
        expect(page.locator("#acct-tz")).to_have_text("America/New_York")
        shots.take("timezone-changed")
        page.reload()
        expect(page.locator("#acct-tz")).to_have_text("America/New_York")
        page.get_by_role("button", name="Use Europe/Paris (this device)").click()
        expect(page.locator("#acct-tz")).to_have_text("Europe/Paris")

        create.click()
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/checkout/"))
        shots.take("checkout")
        page.locator("#pay").click()

        # Back with ?session_id=...: provisioning shows progress and reaches READY with no further click.
        page.wait_for_url(re.compile(r"/dashboard"))
        expect(page.locator("#page-notice")).to_contain_text("Payment received")
        status = page.locator("#assistant-status")
        expect(status).to_have_attribute("data-status", re.compile("PROVISIONING|READY"), timeout=STEP_TIMEOUT)
        expect(status).to_have_attribute("data-phase", "ready", timeout=READY_TIMEOUT)
        expect(page.locator("#assistant-phase")).to_contain_text("Ready")
        expect(page.locator("#sub-badge")).to_have_text("Active")
        # The notice no longer says "being set up" once it is ready; billing is now the portal's, invoices too.
        expect(page.locator("#page-notice")).to_contain_text("your assistant is ready")
        expect(page.get_by_role("button", name="Manage billing")).to_be_visible()
        expect(page.get_by_role("button", name="Invoices")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("^Subscribe"))).to_have_count(0)
        expect(page.locator("#sub-status")).to_contain_text(re.compile(r"renews on [A-Z][a-z]{2} \d{1,2}, \d{4}"))
        shots.take("dashboard-ready")
        shots.accessible("dashboard-ready")
        # The usage section says how many of the day's WhatsApp messages have gone out.
        expect(page.locator("#outbound-limit")).to_contain_text("of 200 (a long message counts as several)")

        # The assistant at work: typing dots from the hand-off until its reply, which shows its delivery marks.
        # ("slow 3": the stand-in assistant holds the message for 3 s before answering.)
        sim.get_by_label("Message").fill("slow 3")
        sim.get_by_role("button", name="Send").click()
        expect(page.locator("#sim-typing")).to_be_visible(timeout=STEP_TIMEOUT)
        shots.take("simulator-typing")
        reply = sim.locator(".bubble.them", has_text="done after 3s")
        expect(reply).to_be_visible(timeout=STEP_TIMEOUT)
        expect(page.locator("#sim-typing")).to_have_count(0)
        expect(reply.locator(".mark")).to_have_attribute("data-status", "delivered", timeout=STEP_TIMEOUT)

        # What it can do: one click sends the example from the simulator.
        page.locator('#examples [data-example="A plan"]').click()
        expect(sim.locator('.bubble[data-direction="in"]', has_text="plan a 3-day trip to Lisbon")).to_have_count(1)

        # A reminder it sets up, and the message it writes on its own when the time comes, show in the recent
        # activity. ("remind 1": the stand-in assistant reports a reminder, as the plugin reports OpenClaw's.)
        sim.get_by_label("Message").fill("remind 1 stretch")
        sim.get_by_role("button", name="Send").click()
        expect(page.locator('#activity-list li[data-kind="proactive"]').first).to_contain_text(
            "Reminder: stretch", timeout=STEP_TIMEOUT
        )
        reminder = page.locator('#activity-list li[data-kind="automation_set"]').first
        expect(reminder).to_contain_text("Reminder set", timeout=STEP_TIMEOUT)
        expect(reminder).to_contain_text("stretch —")
        page.evaluate("document.querySelector('#activity').scrollIntoView({block: 'center'})")
        shots.take("activity")

        # A first conversation through the simulator: the assistant's reply shows up.
        sim.get_by_label("Message").fill("hi")
        sim.get_by_role("button", name="Send").click()
        page.wait_for_function(
            """() => {
                const bubbles = [...document.querySelectorAll('#sim .bubble')];
                const mine = bubbles.map((b) => b.dataset.direction === 'in' && b.firstChild.textContent === 'hi');
                const last = mine.lastIndexOf(true);
                return last >= 0 && bubbles.slice(last + 1).some((b) => b.dataset.direction === 'out');
            }""",
            timeout=READY_TIMEOUT,
        )
        shots.take("simulator-reply")
        # The reply's thinking was metered: the usage view shows what it cost, on which model, for what.
        expect(page.locator("#spend-summary")).to_contain_text("Claude Sonnet 5", timeout=STEP_TIMEOUT)
        expect(page.locator("#spend .legend")).to_contain_text("Answering you")
        # Scrolled from inside the page: the section may be drawn afresh (the usage refreshes) at any moment.
        page.evaluate("document.querySelector('#spend').scrollIntoView({block: 'center'})")
        shots.take("usage-spend")

        # A key that is not one: the words say why, under the field, on screen; the code stays in the API.
        watch.expect_failure(422, r"/api/v1/api-keys$")
        page.get_by_label("Anthropic API key").fill("not a key")
        page.get_by_role("button", name="Save key").click()
        expect(page.locator("#key-hint-error")).to_contain_text("doesn't look like an Anthropic API key")
        _in_viewport_below(page, "#key-hint-error", "#api-key")
        expect(page.get_by_label("Anthropic API key")).to_have_attribute("aria-invalid", "true")
        shots.take("api-key-invalid")

        # The Anthropic key: add (only the last 4 shown), then remove with confirmation.
        key = "sk-ant-api03-" + uuid.uuid4().hex + "WXYZ"
        page.get_by_label("Anthropic API key").fill(key)
        page.get_by_role("button", name="Save key").click()
        expect(page.locator("#key-current")).to_contain_text("WXYZ")
        assert key not in page.content()
        shots.take("api-key-set")
        page.get_by_role("button", name="Remove key").click()
        page.get_by_role("dialog").get_by_role("button", name="Remove key").click()
        expect(page.locator("#key-current")).to_contain_text("No key")

        # Sign out; the dashboard then sends you to sign in.
        _open_menu_if_collapsed(page)
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(base + "/dashboard")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Fdashboard$"))
        shots.take("signed-out")

        assert watch.errors == [], (watch.errors, watch.failed)
        assert watch.outside == [], watch.outside
    finally:
        context.close()
