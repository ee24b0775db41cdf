"""Sign-in with Supabase configured: "Continue with Google" goes to Supabase's authorize endpoint, the callback
page hands the access token from the URL fragment to POST /api/v1/session, and the session cookie follows. A
local stand-in plays Supabase (it answers the authorize redirect with a token signed by the project's legacy
HS256 secret, which our verifier accepts exactly as it would Supabase's)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from playwright.sync_api import expect

from tests.harness.dev_server import DevServer, running_dev_server

SECRET = "supabase-legacy-jwt-secret-" + "s" * 32
ANON_KEY = "public-anon-key-for-tests"


class FakeSupabaseAuth:
    """GET /auth/v1/authorize?provider=google&redirect_to=... → 302 to redirect_to#access_token=... (implicit flow)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.email = f"google-{uuid.uuid4().hex[:6]}@example.com"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                fake.requests.append(query)
                if parts.path != "/auth/v1/authorize" or query.get("provider") != ["google"]:
                    self.send_error(404)
                    return
                now = int(time.time())
                token = jwt.encode(
                    {
                        "sub": str(uuid.uuid4()),
                        "email": fake.email,
                        "aud": "authenticated",
                        "role": "authenticated",
                        "iss": fake.url + "/auth/v1",
                        "iat": now,
                        "exp": now + 3600,
                    },
                    SECRET,
                    algorithm="HS256",
                )
                fragment = urlencode({"access_token": token, "token_type": "bearer", "expires_in": 3600})
                self.send_response(302)
                self.send_header("Location", query["redirect_to"][0] + "#" + fragment)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-supabase", daemon=True)

    def __enter__(self) -> FakeSupabaseAuth:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def supabase_product(chromium, database_url) -> Iterator[tuple[DevServer, FakeSupabaseAuth]]:
    with FakeSupabaseAuth() as supabase:
        env = {"SUPABASE_URL": supabase.url, "SUPABASE_JWT_SECRET": SECRET, "SUPABASE_ANON_KEY": ANON_KEY}
        with running_dev_server(database_url, "yourclaw-dev-supabase", **env) as server:
            yield server, supabase


def test_continue_with_google_ends_in_our_session(browser, supabase_product) -> None:
    server, supabase = supabase_product
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # A token planted in a link (not a sign-in this tab started) is refused.
        page.goto(server.url + "/auth/callback#access_token=planted")
        expect(page.locator("#callback-notice")).to_contain_text("not started from this browser tab")
        assert "access_token" not in page.url

        page.goto(server.url + "/login")
        expect(page.locator("#dev-form")).to_be_hidden()
        page.get_by_role("button", name="Continue with Google").click()
        expect(page).to_have_url(re.compile(r"/onboarding$"))
        assert supabase.requests[-1]["redirect_to"] == [server.url + "/auth/callback"]
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["yourclaw_session"]["httpOnly"]
        me = page.evaluate("fetch('/api/v1/users/me').then((r) => r.json())")
        assert me["email"] == supabase.email
        config = page.evaluate("JSON.parse(document.getElementById('yourclaw-config').textContent)")
        assert config["sign_in"] == "supabase" and config["supabase_anon_key"] == ANON_KEY
        assert SECRET not in page.content()
        assert errors == [], errors
    finally:
        context.close()
