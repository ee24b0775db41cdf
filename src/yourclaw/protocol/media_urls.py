"""Short-lived signed URLs for the bytes in `media`: whoever holds one (Twilio sending the assistant's
picture, the assistant reading the user's) may fetch that one item until it expires, with no credentials.

The signing key is derived from ENCRYPTION_KEY's first key, so no new secret has to be managed; URLs
signed with an earlier key still verify while that key stays listed (a rotation does not break the
URLs handed out in the last few minutes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Literal

from yourclaw.kit.settings import Settings

MEDIA_PATH = "/api/v1/media/"
_DERIVATION_LABEL = b"yourclaw media url signing v1"

UrlCheck = Literal["valid", "expired", "invalid"]


def _signing_key(fernet_key: str) -> bytes:
    # A key of its own (domain-separated), never the encryption key itself.
    return hmac.new(base64.urlsafe_b64decode(fernet_key), _DERIVATION_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, media_id: uuid.UUID, expires: int) -> str:
    digest = hmac.new(key, f"{media_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(
    settings: Settings,
    media_id: uuid.UUID,
    ttl_seconds: int,
    *,
    base_url: str | None = None,
    now: float | None = None,
) -> str:
    """The public URL of one media item, valid for `ttl_seconds`. `base_url` defaults to API_URL, the
    address Twilio reaches; the assistant gets RUNTIME_API_URL's instead."""
    expires = int(now if now is not None else time.time()) + max(1, int(ttl_seconds))
    sig = _signature(_signing_key(settings.fernet_keys[0]), media_id, expires)
    base = (base_url or settings.api_url).rstrip("/")
    return f"{base}{MEDIA_PATH}{media_id}?expires={expires}&sig={sig}"


def verify(
    settings: Settings, media_id: uuid.UUID, expires: int | None, sig: str | None, *, now: float | None = None
) -> UrlCheck:
    """The signature is checked before the expiry, so an expired answer only goes to genuine URLs."""
    if expires is None or not sig:
        return "invalid"
    presented = sig.encode()  # bytes: compare_digest refuses non-ASCII str, and a query may carry any
    valid = False
    for key in settings.fernet_keys:
        valid |= hmac.compare_digest(_signature(_signing_key(key), media_id, expires).encode(), presented)
    if not valid:
        return "invalid"
    if expires <= (now if now is not None else time.time()):
        return "expired"
    return "valid"
