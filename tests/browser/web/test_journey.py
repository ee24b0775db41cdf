"""A newcomer's whole journey in a real browser: the landing page, dev sign-in, the WhatsApp number (a wrong one
first), verification through the simulator, Checkout on the local Stripe stand-in, provisioning to READY, a
first conversation, an API key added and removed, sign-out. Once on a desktop screen, once 360 px wide; no
console error and no request beyond 127.0.0.1 either time. Screenshots land in test-artifacts/browser/."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.harness.dev_server import ARTIFACTS, DevServer

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
]


@dataclass
class Watch:
    """Everything the page must not do: log an error, throw, or reach beyond this machine."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    page_url: str = ""
    origin: str = ""

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", self._request)
        page.on("framenavigated", lambda frame: frame.parent_frame is None and setattr(self, "page_url", frame.url))
        # Chromium's console names no URL for a failed load; this does.
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.request.method} {r.url}"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = msg.location.get("url") or ""
        self.errors.append(f"console: {msg.text} at {where} on {self.page_url}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            self.outside.append(request.url)


class Shots:
    def __init__(self, page: Page, screen: Screen) -> None:
        self.page = page
        self.dir = ARTIFACTS / screen.name
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.count = 0
        self.width = screen.viewport["width"]

    def take(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.dir / f"{self.count:02d}-{name}.png"), full_page=True)
        # Nothing may stick out sideways, down to 360 px.
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= self.width, f"{name}: the page is {overflow}px wide on a {self.width}px screen"


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
    shots = Shots(page, screen)
    base = dev_server.url
    try:
        # The landing page and the marketing pages.
        page.goto(base + "/")
        expect(page.locator("h1")).to_contain_text("always-on AI assistant")
        expect(page.locator("#demo-chat")).to_be_attached()
        shots.take("landing")
        for path in ("/features", "/pricing"):
            page.goto(base + path)
            expect(page.locator("h1")).to_be_visible()
            shots.take(path.strip("/"))
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

        # The dashboard: no assistant yet; creating one goes to Checkout (the local Stripe stand-in).
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        expect(page.locator("#acct-tz")).to_have_text("Europe/Paris")
        create = page.get_by_role("button", name="Create my assistant")
        expect(create).to_be_visible()
        shots.take("dashboard-empty")
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
        # The notice no longer says "being set up" once it is ready, and a first thing to ask is offered.
        expect(page.locator("#page-notice")).to_contain_text("your assistant is ready")
        expect(page.locator(".things-to-try li").first).to_contain_text("Remind me")
        shots.take("dashboard-ready")
        # The usage section says how many of the day's WhatsApp messages the assistant has used.
        expect(page.locator("#outbound-limit")).to_contain_text("of its 200 WhatsApp messages for today")

        # A first conversation through the simulator: the assistant's reply shows up.
        sim = page.locator("#sim")
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
        page.locator("#spend").scroll_into_view_if_needed()
        shots.take("usage-spend")

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
