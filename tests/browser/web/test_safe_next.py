"""Where sign-in sends the person next (`safeNext` in session.js), judged by the browser itself: a next URL
that chromium would resolve to another origin is refused, whatever tabs, newlines, backslashes or slashes
it hides that trick. The pages' own scripts are served from disk; no server runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import yourclaw.web

ORIGIN = "https://app.yourclaw.test"
STATIC = Path(yourclaw.web.__file__).parent / "static"

REFUSED = [
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r/evil.example/phish",
    "\t//evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/dashboard\\..\\..\\evil",
    "https://evil.example",
    "javascript:alert(1)",
    " /dashboard",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "/\u2028/evil.example",
    "",
    "dashboard",
]
KEPT = ["/dashboard", "/onboarding?step=2", "/dashboard#usage", "/a/b//c", "/%09/evil.example"]


@pytest.fixture
def page(browser):
    context = browser.new_context()

    def serve(route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?", 1)[0]
        if path.startswith("/static/"):
            file = STATIC / path.removeprefix("/static/")
            route.fulfill(status=200, body=file.read_bytes(), content_type="text/javascript")
        else:
            route.fulfill(status=200, body="<!doctype html><title>t</title>", content_type="text/html")

    context.route(f"{ORIGIN}/**", serve)
    page = context.new_page()
    page.goto(ORIGIN + "/login")
    yield page
    context.close()


def _judged(page, values: list[str]) -> list[dict]:
    return page.evaluate(
        """async (values) => {
            const { safeNext } = await import("/static/js/session.js");
            return values.map((value) => {
                const kept = safeNext(value);
                return { value, kept, lands: kept ? new URL(kept, location.href).origin : null };
            });
        }""",
        values,
    )


def test_a_next_url_that_leaves_the_site_is_refused(page) -> None:
    for judged in _judged(page, REFUSED):
        assert judged["kept"] == "", judged


def test_a_path_on_this_site_is_kept_and_stays_here(page) -> None:
    for judged in _judged(page, KEPT):
        assert judged["kept"] == judged["value"] and judged["lands"] == ORIGIN, judged
