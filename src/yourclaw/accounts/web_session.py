"""The browser's session: a signed cookie of our own, issued in exchange for a verified sign-in token.

Stateless: the cookie is a JWT (HS256) signed with a key derived from the first ENCRYPTION_KEY and verified
with keys derived from all of them, so rotating ENCRYPTION_KEY the usual way keeps people signed in. It is
HttpOnly (page scripts never see it), SameSite=Lax, Secure unless the app is served from a loopback address
over plain HTTP, and lasts SESSION_TTL_DAYS.

CSRF: a write authenticated by the cookie must carry `X-CSRF-Token` equal to an HMAC of the session's random
id (a signed double-submit token). The same value sits in a readable cookie for the page's scripts; a
cross-site page can neither read it nor compute it, and a cookie planted by a sibling domain does not match
the session. Requests with `Authorization: Bearer` need no token: no browser attaches that header by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import datetime

import jwt
import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie

from yourclaw.accounts.errors import CsrfTokenInvalid, SessionExpired
from yourclaw.kit.settings import Settings

SESSION_COOKIE = "yourclaw_session"
CSRF_COOKIE = "yourclaw_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_AUDIENCE = "yourclaw-session"
_ALG = "HS256"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class WebSession(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    email: str | None
    sid: str
    expires_at: int
    issued_at_ms: int = 0  # finer than `iat`: a sign-out and a new sign-in can fall in the same second

    def revoked_by(self, revoked_at: datetime | None) -> bool:
        return revoked_at is not None and self.issued_at_ms <= revoked_at.timestamp() * 1000


def _keys(settings: Settings) -> list[bytes]:
    # A purpose-bound derivation: the session key is never the Fernet key itself.
    return [hmac.new(k.encode(), b"yourclaw web session v1", hashlib.sha256).digest() for k in settings.fernet_keys]


def ttl_seconds(settings: Settings) -> int:
    return settings.session_ttl_days * 86400


def secure_cookies(settings: Settings) -> bool:
    """Secure everywhere except plain-HTTP loopback development, where a Secure cookie would never be sent."""
    from urllib.parse import urlsplit

    parts = urlsplit(settings.app_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK)


def csrf_token(settings: Settings, sid: str) -> str:
    mac = hmac.new(_keys(settings)[0], b"csrf:" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _csrf_matches(settings: Settings, sid: str, given: str) -> bool:
    for key in _keys(settings):
        mac = hmac.new(key, b"csrf:" + sid.encode(), hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        if hmac.compare_digest(expected.encode(), given.encode()):
            return True
    return False


def issue(
    settings: Settings, user_id: uuid.UUID, email: str | None, *, now: int | None = None
) -> tuple[str, WebSession]:
    now_ms = int(time.time() * 1000) if now is None else now * 1000
    now = now_ms // 1000
    session = WebSession(
        user_id=user_id,
        email=email,
        sid=secrets.token_urlsafe(18),
        expires_at=now + ttl_seconds(settings),
        issued_at_ms=now_ms,
    )
    payload = {
        "sub": str(user_id),
        "email": email,
        "sid": session.sid,
        "aud": _AUDIENCE,
        "iat": now,
        "iat_ms": now_ms,
        "exp": session.expires_at,
    }
    return jwt.encode(payload, _keys(settings)[0], algorithm=_ALG), session


def decode(settings: Settings, token: str) -> WebSession | None:
    """The session a cookie value stands for, or None when it is forged, expired or malformed."""
    payload = None
    for key in _keys(settings):
        try:
            payload = jwt.decode(
                token, key, algorithms=[_ALG], audience=_AUDIENCE, options={"require": ["exp", "sub", "sid"]}
            )
            break
        except jwt.ExpiredSignatureError:
            return None
        except jwt.PyJWTError:
            continue
    if payload is None:
        return None
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except ValueError:
        return None
    email = payload.get("email")
    sid = payload.get("sid")
    if not isinstance(sid, str) or not sid:
        return None
    issued_at_ms = payload.get("iat_ms")
    if not isinstance(issued_at_ms, int):
        return None
    return WebSession(
        user_id=user_id,
        email=email if isinstance(email, str) else None,
        sid=sid,
        expires_at=int(payload["exp"]),
        issued_at_ms=issued_at_ms,
    )


def from_request(settings: Settings, request: Request) -> WebSession | None:
    raw = request.cookies.get(SESSION_COOKIE)
    return decode(settings, raw) if raw else None


def require(settings: Settings, request: Request) -> WebSession:
    """The cookie session of this request, with its CSRF token checked on anything but a read."""
    session = from_request(settings, request)
    if session is None:
        raise SessionExpired("Your session has ended; sign in again")
    check_csrf(settings, request, session)
    return session


def check_csrf(settings: Settings, request: Request, session: WebSession) -> None:
    if request.method.upper() in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not _csrf_matches(settings, session.sid, given):
        raise CsrfTokenInvalid("Missing or wrong X-CSRF-Token: reload the page and try again")


def session_cookies(settings: Settings, token: str, session: WebSession) -> list[Cookie]:
    secure = secure_cookies(settings)
    max_age = ttl_seconds(settings)
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=secure,
            samesite="lax",
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=csrf_token(settings, session.sid),
            max_age=max_age,
            path="/",
            httponly=False,
            secure=secure,
            samesite="lax",
        ),
    ]


def cleared_cookies(settings: Settings) -> Iterable[Cookie]:
    secure = secure_cookies(settings)
    for key, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        yield Cookie(key=key, value="", max_age=0, path="/", httponly=httponly, secure=secure, samesite="lax")


def with_cookies(response: Response, cookies: Iterable[Cookie]) -> Response:
    for cookie in cookies:
        response.set_cookie(cookie)
    return response
