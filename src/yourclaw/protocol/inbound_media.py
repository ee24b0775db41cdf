"""Media the user sent: Twilio's URLs need our Twilio credentials, which never enter a container, so the
first hand-out of a message fetches each item into `media` and the assistant gets our signed URL instead.
The message's entries are rewritten to `{"media_id", "content_type"}`, so a redelivery fetches nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.engine import transaction
from yourclaw.kit.settings import Settings
from yourclaw.protocol import media_repository as media_repo
from yourclaw.protocol.media_urls import signed_url
from yourclaw.protocol.repository import HandedOut

log = structlog.get_logger(__name__)

FETCH_ATTEMPTS = 2
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Fetched:
    content_type: str
    data: bytes | None = None
    error: str | None = None  # a machine code; the item is left out of what the assistant sees


@dataclass(frozen=True)
class MediaLink:
    url: str
    content_type: str


def media_host_allowed(settings: Settings, url: str) -> bool:
    """The URL's host is one of Settings.media_hosts or a subdomain of one."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return bool(host) and any(host == allowed or host.endswith("." + allowed) for allowed in settings.media_hosts)


async def fetch_twilio_media(http: httpx.AsyncClient, settings: Settings, url: str, content_type: str) -> Fetched:
    """One item, capped at MEDIA_MAX_BYTES while it streams. Twilio answers with a redirect to its
    storage; httpx drops the Authorization header when a redirect leaves the origin."""
    if urlsplit(url).scheme not in ("http", "https"):
        return Fetched(content_type, error="MEDIA_URL_UNUSABLE")
    if not media_host_allowed(settings, url):
        # Never our Twilio credentials to another host, whatever a (signed) webhook named. Not the URL: it
        # names our account.
        log.warning("inbound_media_host_refused")
        return Fetched(content_type, error="MEDIA_HOST_NOT_ALLOWED")
    auth = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        auth = httpx.BasicAuth(settings.twilio_account_sid, settings.twilio_auth_token)
    cap = settings.media_max_bytes
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            async with http.stream("GET", url, auth=auth, follow_redirects=True) as response:
                if response.status_code >= 500 and attempt < FETCH_ATTEMPTS:
                    continue
                if response.status_code != 200:
                    # Only the status: the URL names our account.
                    log.warning("inbound_media_refused", status=response.status_code)
                    return Fetched(content_type, error="MEDIA_UNAVAILABLE")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    return Fetched(content_type, error="MEDIA_TOO_LARGE")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > cap:
                        return Fetched(content_type, error="MEDIA_TOO_LARGE")
                    chunks.append(chunk)
                served_type = response.headers.get("content-type", "").strip()
                return Fetched(content_type or served_type[:100] or DEFAULT_CONTENT_TYPE, data=b"".join(chunks))
        except httpx.HTTPError as exc:
            log.warning("inbound_media_fetch_failed", error=type(exc).__name__, attempt=attempt)
    return Fetched(content_type, error="MEDIA_UNAVAILABLE")


async def offer_media(
    message: HandedOut,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
) -> list[MediaLink]:
    """Our signed URLs for the message's media, fetching from Twilio first if this is its first hand-out.
    No database connection is held while Twilio answers."""
    entries = message.media
    pending = [e for e in entries if media_repo.needs_fetch(e)]
    if pending:
        results = await asyncio.gather(
            *(
                fetch_twilio_media(http, settings, str(e.get("url") or ""), str(e.get("content_type") or ""))
                for e in pending
            )
        )
        # Keyed by URL: `resolve` sees the entries as re-read under the row lock.
        by_url = {str(e.get("url")): r for e, r in zip(pending, results, strict=True)}

        def resolve(current: list[dict]) -> list[tuple[dict, bytes | None]]:
            out: list[tuple[dict, bytes | None]] = []
            for entry in current:
                result = by_url.get(str(entry.get("url"))) if media_repo.needs_fetch(entry) else None
                if result is None:
                    out.append((entry, None))
                elif result.error is not None:
                    out.append(({"error": result.error, "content_type": result.content_type}, None))
                else:
                    out.append(({"content_type": result.content_type}, result.data))
            return out

        async with transaction(sessions) as session:
            entries = await media_repo.cache_message_media(session, message.id, message.user_id, resolve)

    if not any("media_id" in entry for entry in entries):
        return []
    # The address the assistant's config names (`runtime.desired.api_url_for`): its host's own when it has
    # one, which is often the only one its containers reach.
    async with transaction(sessions) as session:
        base_url = await media_repo.host_runtime_api_url(session, message.user_id) or settings.assistant_api_url
    links = []
    for entry in entries:
        if "media_id" not in entry:
            continue
        url = signed_url(settings, uuid.UUID(entry["media_id"]), settings.media_url_ttl_seconds, base_url=base_url)
        links.append(MediaLink(url=url, content_type=str(entry.get("content_type") or DEFAULT_CONTENT_TYPE)))
    return links
