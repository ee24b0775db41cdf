"""The branded error page: which requests get it (a browser's page load), and what it says for a 404 and a
5xx (words a person can act on, no machine code, no unfilled placeholder)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from litestar import Request

from yourclaw.kit.settings import load_settings
from yourclaw.web import pages

pytestmark = pytest.mark.unit
SETTINGS = load_settings({"ENCRYPTION_KEY": Fernet.generate_key().decode(), "DEV_JWT_SECRET": "s" * 40})
HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


def _request(path: str, accept: str, method: str = "GET") -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"accept", accept.encode())],
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "root_path": "",
        "app": None,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("path", "accept", "method", "page"),
    [
        ("/no-such-page", HTML, "GET", True),
        ("/dashboard/x", HTML, "HEAD", True),
        ("/no-such-page", "application/json", "GET", False),
        ("/no-such-page", "*/*", "GET", False),
        ("/no-such-page", HTML, "POST", False),
        ("/api/v1/nothing", HTML, "GET", False),
        ("/llm/anthropic/v1/nothing", HTML, "GET", False),
        ("/static/js/nope.js", HTML, "GET", False),
    ],
)
def test_only_a_browsers_page_load_gets_the_page(path, accept, method, page):
    assert pages.wants_page(_request(path, accept, method)) is page


@pytest.mark.parametrize(
    ("status", "words"),
    [(404, "Page not found"), (500, "Something went wrong on our side"), (503, "Something went wrong on our side")],
)
def test_the_page_says_what_happened_in_words(status, words):
    answer = pages.error_page(status, SETTINGS)
    body = answer.content
    assert answer.status_code == status and words in body and f"Error {status}" in body
    assert "{{" not in body and "NOT_FOUND" not in body and "INTERNAL" not in body
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
