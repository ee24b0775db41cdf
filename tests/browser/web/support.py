"""What the browser journeys share: a watch on what a page must not do (console errors, requests beyond this
machine), screenshots that also check the page for sideways overflow and raw error codes, and the
accessibility check (axe-core run inside the page)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.harness.dev_server import ARTIFACTS

# An API's machine code (NO_BILLING_ACCOUNT, INVALID_API_KEY): it stays in the API's answer, never on a page.
RAW_CODE = re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]{2,})+\b")
BLOCKING_IMPACTS = ("serious", "critical")


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

    # (status, URL pattern) of the failures a test provokes on purpose: Chromium logs each failed load as a
    # console error, and these are the expected ones (a refused key, an unknown address).
    deliberate: list[tuple[int, re.Pattern]] = field(default_factory=list)

    def expect_failure(self, status: int, url: str) -> None:
        self.deliberate.append((status, re.compile(url)))

    def _is_deliberate(self, text: str, where: str) -> bool:
        return any(f"status of {status} " in text and pattern.search(where) for status, pattern in self.deliberate)

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = msg.location.get("url") or ""
        if self._is_deliberate(msg.text, where):
            return
        self.errors.append(f"console: {msg.text} at {where} on {self.page_url}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            self.outside.append(request.url)


class Shots:
    def __init__(self, page: Page, name: str, width: int) -> None:
        self.page = page
        self.dir = ARTIFACTS / name
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        for old in self.dir.glob("*.json"):
            old.unlink()
        self.count = 0
        self.width = width

    def take(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.dir / f"{self.count:02d}-{name}.png"), full_page=True)
        # Nothing may stick out sideways, down to 360 px.
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= self.width, f"{name}: the page is {overflow}px wide on a {self.width}px screen"
        text = self.page.evaluate("document.body.innerText")
        codes = RAW_CODE.findall(text)
        assert not codes, f"{name}: raw error codes on the page: {codes}"

    def accessible(self, name: str) -> None:
        """axe-core inside the page: no serious or critical violation (the report is kept either way). Checked as
        a user who asked for reduced motion sees it: a bubble caught halfway through fading in is not a
        contrast fault, and on a busy machine axe can land on one."""
        self.page.emulate_media(reduced_motion="reduce")
        try:
            self.page.wait_for_function(
                "() => document.getAnimations().every((a) => a.playState !== 'running'"
                " || a.effect.getComputedTiming().iterations === Infinity)"
            )
            results = Axe().run(self.page)
        finally:
            self.page.emulate_media(reduced_motion="no-preference")
        violations = results.response["violations"]
        (self.dir / f"axe-{name}.json").write_text(json.dumps(violations, indent=1))
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v.get("impact") in BLOCKING_IMPACTS
        ]
        assert not blocking, f"{name}: accessibility violations: {blocking}"


def signed_in_page(context, base_url: str, email: str, errors: list[str]) -> Page:
    """A page of `context` signed in as `email` through dev sign-in and a session cookie, its console errors and
    uncaught exceptions collected into `errors`."""
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    token = context.request.post(f"{base_url}/api/v1/dev/login", data={"email": email}).json()
    assert context.request.post(f"{base_url}/api/v1/session", data={"access_token": token["access_token"]}).ok
    return page
