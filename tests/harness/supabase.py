"""A local stand-in for Supabase Auth's server side: its admin API's user lookup (what we ask about bans and
deletions), tokens signed with the project's legacy HS256 secret (which our verifier accepts exactly as it
would Supabase's), and the settings that point the app at it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

from tests.harness.settings import make_settings
from yourclaw.kit.settings import Settings

JWT_SECRET = "supabase-legacy-jwt-secret-" + "s" * 32
SERVICE_ROLE_KEY = "supabase-service-role-key-for-tests"
ADMIN_USERS = "/auth/v1/admin/users/"


class FakeSupabase:
    """Users are known once `add`ed; `ban`, `delete` and `status` (an outage) change what the admin API says."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.status: int | None = None
        self.lookups = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
                fake.lookups += 1
                if not self.path.startswith(ADMIN_USERS):
                    self._answer(404, {"msg": "not found"})
                elif self.headers.get("apikey") != SERVICE_ROLE_KEY:
                    self._answer(401, {"msg": "Invalid API key"})
                elif fake.status is not None:
                    self._answer(fake.status, {"msg": "unavailable"})
                elif (user := fake.users.get(self.path.removeprefix(ADMIN_USERS))) is None:
                    self._answer(404, {"code": 404, "error_code": "user_not_found", "msg": "User not found"})
                else:
                    self._answer(200, user)

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-supabase", daemon=True
        )

    def __enter__(self) -> FakeSupabase:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self, database_url: str, **overrides: str) -> Settings:
        return make_settings(
            database_url,
            SUPABASE_URL=self.url,
            SUPABASE_JWT_SECRET=JWT_SECRET,
            SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY,
            **overrides,
        )

    def add(self, email: str | None = None, *, issued_seconds_ago: int = 0) -> tuple[uuid.UUID, str]:
        """A user Supabase has, and an access token it issued them (now, unless told)."""
        user_id = uuid.uuid4()
        email = email or f"{user_id.hex[:8]}@example.com"
        self.users[str(user_id)] = {"id": str(user_id), "email": email, "aud": "authenticated"}
        now = int(time.time()) - issued_seconds_ago
        claims = {
            "sub": str(user_id),
            "email": email,
            "aud": "authenticated",
            "role": "authenticated",
            "iss": self.url + "/auth/v1",
            "iat": now,
            "exp": now + 3600,
        }
        return user_id, jwt.encode(claims, JWT_SECRET, algorithm="HS256")

    def ban(self, user_id: uuid.UUID, until: str = "2999-01-01T00:00:00Z") -> None:
        self.users[str(user_id)]["banned_until"] = until

    def delete(self, user_id: uuid.UUID) -> None:
        del self.users[str(user_id)]
