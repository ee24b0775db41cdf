"""A local stand-in for Google: OAuth 2.0 with PKCE (a consent page with an "Allow" button, the token and
revoke endpoints, userinfo) and the subset of Calendar, Gmail and Drive our MCP server calls, over in-memory
data per account. Each new account starts with one event tomorrow, one email and one document, so a
newcomer has something to ask about."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from yourclaw.standins.local_server import LocalServer

DEV_CLIENT_ID = "yourclaw-dev.apps.googleusercontent.test"
DEV_CLIENT_SECRET = "standin-google-secret"
DEFAULT_EMAIL = "you@example.com"


class GoogleStandinError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class Account:
    email: str
    events: dict[str, dict] = field(default_factory=dict)
    messages: dict[str, dict] = field(default_factory=dict)
    drafts: dict[str, dict] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)


def _id() -> str:
    return secrets.token_hex(8)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def gmail_message(sender: str, to: str, subject: str, body: str, thread_id: str | None = None) -> dict:
    message_id = _id()
    return {
        "id": message_id,
        "threadId": thread_id or message_id,
        "snippet": body[:80],
        "payload": {
            "mimeType": "text/plain",
            "headers": [
                {"name": "From", "value": sender},
                {"name": "To", "value": to},
                {"name": "Subject", "value": subject},
                {"name": "Date", "value": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")},
            ],
            "body": {"data": _b64(body)},
        },
    }


def _seed(account: Account) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    event_id = _id()
    account.events[event_id] = {
        "id": event_id,
        "summary": "Dentist appointment with Dr. Molar",
        "location": "12 High Street",
        "start": {"dateTime": tomorrow.isoformat()},
        "end": {"dateTime": (tomorrow + timedelta(hours=1)).isoformat()},
    }
    m = gmail_message(
        "billing@acme.example",
        account.email,
        "Invoice 4471 from ACME",
        "Hello, your invoice 4471 for 120 EUR is due on Friday. Thanks, ACME",
    )
    account.messages[m["id"]] = m
    file_id = _id()
    account.files[file_id] = {
        "id": file_id,
        "name": "Trip plan",
        "mimeType": "application/vnd.google-apps.document",
        "content": "Day 1: Lisbon. Day 2: Sintra.",
        "modifiedTime": datetime.now(UTC).isoformat(),
    }


class GoogleStandin:
    def __init__(
        self, client_id: str = DEV_CLIENT_ID, client_secret: str = DEV_CLIENT_SECRET, access_ttl: int = 3600
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl = access_ttl
        self._lock = threading.Lock()
        self.accounts: dict[str, Account] = {}
        self._codes: dict[str, dict] = {}
        self._access: dict[str, tuple[str, float, str]] = {}  # token -> (email, expires, refresh token)
        self._refresh: dict[str, tuple[str, tuple[str, ...]]] = {}  # token -> (email, scopes)
        self.issued: list[str] = []  # every token ever handed out (the e2e test looks for them in containers)
        self.revoked: list[str] = []  # emails whose grant was revoked, in order (tests read it)
        self._server = LocalServer("google-standin")

    def start(self, port: int = 0) -> str:
        from yourclaw.standins.google_http import make_handler

        return self._server.start(make_handler(self), port)

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # --- accounts and their data ------------------------------------------------------------------

    def account(self, email: str) -> Account:
        with self._lock:
            account = self.accounts.get(email)
            if account is None:
                account = self.accounts[email] = Account(email)
                _seed(account)
            return account

    # --- OAuth ----------------------------------------------------------------------------------------

    def authorize(
        self, *, client_id: str, redirect_uri: str, scope: str, challenge: str, method: str, email: str = DEFAULT_EMAIL
    ) -> str:
        """What pressing "Allow" does: a one-time code bound to the PKCE challenge and the redirect URI."""
        if client_id != self.client_id:
            raise GoogleStandinError(400, "invalid_client")
        if method != "S256" or not challenge:
            raise GoogleStandinError(400, "invalid_request")
        self.account(email)
        code = "4/" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "email": email,
                "scopes": tuple(scope.split()),
            }
        return code

    def token(self, form: dict[str, str]) -> dict:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise GoogleStandinError(401, "invalid_client")
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                issued = self._codes.pop(form.get("code", ""), None)
                if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                    raise GoogleStandinError(400, "invalid_grant")
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != issued["challenge"]:
                    raise GoogleStandinError(400, "invalid_grant")
                refresh = "1//" + secrets.token_urlsafe(32)
                self._refresh[refresh] = (issued["email"], issued["scopes"])
                self.issued.append(refresh)
                return self._issue_access(issued["email"], refresh, issued["scopes"], with_refresh=True)
            if grant == "refresh_token":
                held = self._refresh.get(form.get("refresh_token", ""))
                if held is None:
                    raise GoogleStandinError(400, "invalid_grant")
                return self._issue_access(held[0], form["refresh_token"], held[1], with_refresh=False)
        raise GoogleStandinError(400, "unsupported_grant_type")

    def _issue_access(self, email: str, refresh: str, scopes: tuple[str, ...], *, with_refresh: bool) -> dict:
        access = "ya29." + secrets.token_urlsafe(32)
        self._access[access] = (email, time.monotonic() + self.access_ttl, refresh)
        self.issued.append(access)
        body = {
            "access_token": access,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if with_refresh:
            body["refresh_token"] = refresh
        return body

    def revoke(self, token: str) -> None:
        """Revoking any token of a grant ends the whole grant, as at Google."""
        with self._lock:
            refresh = self._access[token][2] if token in self._access else token
            held = self._refresh.pop(refresh, None)
            if held is None:
                raise GoogleStandinError(400, "invalid_token")
            self._access = {k: v for k, v in self._access.items() if v[2] != refresh}
            self.revoked.append(held[0])

    def revoke_all(self, email: str) -> None:
        """The user revoking our access in their Google account settings."""
        with self._lock:
            for refresh in [r for r, (e, _) in self._refresh.items() if e == email]:
                del self._refresh[refresh]
            self._access = {k: v for k, v in self._access.items() if v[0] != email}

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {k: (e, 0.0, r) for k, (e, _, r) in self._access.items()}

    def holder_of(self, access_token: str) -> str | None:
        with self._lock:
            held = self._access.get(access_token)
        if held is None or held[1] <= time.monotonic():
            return None
        return held[0]
