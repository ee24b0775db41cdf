"""A user's own Anthropic key (BYOK): checked, stored encrypted, and from then on used by the metering
proxy for their calls (which are then not charged). The key is never logged, returned or echoed in an
error; only its last four characters are kept in clear."""

from __future__ import annotations

import re
import uuid

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.llm.errors import ApiKeyRejected, InvalidApiKey, ProviderUnavailable
from yourclaw.llm.own_keys import repository as repo
from yourclaw.llm.own_keys.schemas import ApiKeyOut, Provider

log = structlog.get_logger(__name__)

# Anthropic keys: "sk-ant-" then a URL-safe base64 body (about 100 characters today).
KEY_SHAPE = re.compile(r"^sk-ant-[A-Za-z0-9_-]{20,250}$")
CHECK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
ANTHROPIC_VERSION = "2023-06-01"


def _out(provider: Provider, found: tuple[str | None, object] | None) -> ApiKeyOut:
    if found is None:
        return ApiKeyOut(provider=provider, set=False)
    hint, updated_at = found
    return ApiKeyOut(provider=provider, set=True, last4=hint, updated_at=updated_at)


def check_shape(key: str) -> str:
    key = key.strip()
    if not KEY_SHAPE.match(key):
        raise InvalidApiKey("That doesn't look like an Anthropic API key: it starts with sk-ant- and has no spaces")
    return key


async def check_with_anthropic(http: httpx.AsyncClient, base_url: str, key: str) -> None:
    """Listing models costs nothing and needs a valid key: 401/403 means Anthropic refuses it."""
    try:
        response = await http.get(
            base_url.rstrip("/") + "/v1/models",
            params={"limit": "1"},
            headers={"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION},
            timeout=CHECK_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        log.warning("api_key_check_unreachable", error=type(exc).__name__)
        raise ProviderUnavailable("Anthropic could not be reached to check the key; try again in a moment") from None
    if response.status_code in (401, 403):
        raise ApiKeyRejected("Anthropic did not accept this key")
    # 429: the key was recognised, only its rate limit was hit.
    if response.status_code not in (200, 429):
        log.warning("api_key_check_failed", status=response.status_code)
        raise ProviderUnavailable("Anthropic could not check the key just now; try again in a moment")


async def current(session: AsyncSession, user_id: uuid.UUID, provider: Provider) -> ApiKeyOut:
    return _out(provider, await repo.get(session, user_id, provider))


async def set_key(
    session: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    secrets: SecretBox,
    user_id: uuid.UUID,
    provider: Provider,
    key: str,
) -> ApiKeyOut:
    key = check_shape(key)
    await check_with_anthropic(http, settings.anthropic_base_url, key)
    updated_at = await repo.put(session, user_id, provider, secrets.encrypt(key), key[-4:])
    log.info("api_key_set", provider=provider, key_hint=key[-4:])
    return ApiKeyOut(provider=provider, set=True, last4=key[-4:], updated_at=updated_at)


async def remove(session: AsyncSession, user_id: uuid.UUID, provider: Provider) -> None:
    await repo.remove(session, user_id, provider)
    log.info("api_key_removed", provider=provider)
