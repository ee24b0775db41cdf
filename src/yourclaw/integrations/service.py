"""Connecting, listing and disconnecting Google services, and the fresh access token a tool call needs.
Tokens are encrypted at rest (`SecretBox`); a refresh token never leaves the control plane. Never commits:
the request owns the transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.integrations import notices, oauth
from yourclaw.integrations import repository as repo
from yourclaw.integrations.errors import (
    GoogleNotConfigured,
    NeedsReconnect,
    NotConnected,
    OAuthStateExpired,
    OAuthStateInvalid,
    OAuthStateOtherUser,
    OAuthStateUsed,
)
from yourclaw.integrations.schemas import IntegrationOut, IntegrationsOut
from yourclaw.integrations.services import BY_ROW, SERVICES, Service
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp

log = structlog.get_logger(__name__)

# An access token this close to its expiry is refreshed before use, so a call never starts with one that
# dies on its way to Google.
REFRESH_MARGIN = timedelta(seconds=60)


def _require_client(settings: Settings) -> None:
    if not settings.google_connect_enabled:
        raise GoogleNotConfigured("Connecting Google services is not set up here (GOOGLE_CLIENT_ID is unset)")


async def start_connect(
    session: AsyncSession, settings: Settings, box: SecretBox, user_id: uuid.UUID, service: Service
) -> str:
    """A state bound to this user and a PKCE verifier, kept for the callback; the consent URL to send them to."""
    _require_client(settings)
    state, verifier = oauth.new_state(), oauth.new_verifier()
    now = datetime.now(UTC)
    # Abandoned consents are swept as new ones start: the table holds at most a few minutes of them.
    await repo.delete_old_states(session, now - timedelta(hours=1))
    await repo.add_state(
        session,
        state_hash=oauth.state_hash(state),
        user_id=user_id,
        service=service.row,
        verifier=box.encrypt(verifier),
        expires_at=now + timedelta(seconds=settings.google_oauth_state_ttl_seconds),
    )
    return oauth.consent_url(settings, service, state, verifier)


async def redeem_state(session: AsyncSession, box: SecretBox, user_id: uuid.UUID, service: Service, state: str) -> str:
    """The PKCE verifier of a state this user started for this service, once, in time."""
    row = await repo.state_for_update(session, oauth.state_hash(state)) if state else None
    if row is None or row.service != service.row:
        raise OAuthStateInvalid("This sign-in link is not one we made (unknown state). Press Connect again.")
    if row.user_id != user_id:
        raise OAuthStateOtherUser("This sign-in link was started by another account. Press Connect again.")
    if row.used_at is not None:
        raise OAuthStateUsed("This sign-in link was used already. Press Connect again.")
    now = datetime.now(UTC)
    if row.expires_at <= now:
        raise OAuthStateExpired("This sign-in link has expired (it lasts 10 minutes). Press Connect again.")
    await repo.mark_state_used(session, row.state_hash, now)
    return box.decrypt(row.code_verifier_encrypted)


async def finish_connect(
    session: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    box: SecretBox,
    user_id: uuid.UUID,
    service: Service,
    *,
    state: str,
    code: str,
) -> None:
    _require_client(settings)
    verifier = await redeem_state(session, box, user_id, service, state)
    tokens = await oauth.exchange(http, settings, service, code, verifier)
    email = await oauth.account_email(http, settings, tokens.access_token)
    await repo.save_connection(
        session,
        user_id=user_id,
        service=service.row,
        access_token=box.encrypt(tokens.access_token),
        refresh_token=box.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
        expires_at=datetime.now(UTC) + timedelta(seconds=tokens.expires_in),
        scopes=list(tokens.scopes),
        email=email,
    )
    log.info("google_connected", user_id=str(user_id), service=service.name)


async def overview(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> IntegrationsOut:
    rows = {row.service: row for row in await repo.integrations_of(session, user_id)}
    out = []
    for service in SERVICES.values():
        row = rows.get(service.row)
        out.append(
            IntegrationOut(
                service=service.name,
                label=service.label,
                can_do=service.can_do,
                status=row.status if row else "not_connected",
                email=row.email if row else None,
                connected_at=row.created_at.isoformat() if row else None,
            )
        )
    return IntegrationsOut(available=settings.google_connect_enabled, integrations=out)


async def disconnect(
    session: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    box: SecretBox,
    user_id: uuid.UUID,
    service: Service,
) -> None:
    """Revokes at Google, then forgets. Google's grant is one per account and app (incremental consent adds
    scopes to it), and revoking any of its tokens ends all of it: while another service stays connected the
    grant is kept and only this service's tokens are forgotten (its tools are gone at once)."""
    row = await repo.integration_for_update(session, user_id, service.row)
    if row is None:
        raise NotConnected(f"{service.label} is not connected")
    others = [s for s in await repo.connected_services(session, user_id) if s != service.row]
    if not others:
        token = row.refresh_token_encrypted or row.access_token_encrypted
        if token:
            await oauth.revoke(http, settings, box.decrypt(token))
    await repo.forget(session, user_id, service.row)
    log.info("google_disconnected", user_id=str(user_id), service=service.name, revoked=not others)


async def revoke_account(
    session: AsyncSession, settings: Settings, http: httpx.AsyncClient, box: SecretBox, user_id: uuid.UUID
) -> None:
    """An account being deleted: its Google grant is revoked at Google (one token ends the whole grant), so
    access ends there too and not only here. Google unreachable raises, and the deletion waits for a retry
    rather than leave a live grant behind; the rows go with the account."""
    for row in await repo.integrations_of(session, user_id):
        token = row.refresh_token_encrypted or row.access_token_encrypted
        if token:
            await oauth.revoke(http, settings, box.decrypt(token))
            return


def fresh(access_token_encrypted: str | None, expires_at: datetime | None, now: datetime) -> bool:
    """Whether a stored access token can be used as it is (not within REFRESH_MARGIN of its expiry)."""
    return bool(access_token_encrypted) and expires_at is not None and expires_at - REFRESH_MARGIN > now


def usable_token(box: SecretBox, context: repo.CallContext, now: datetime) -> str | None:
    """The access token read without a lock, when it is connected and fresh: nothing is written then, so
    nothing needs the row lock. None means "take the locked path" (`access_token`): it refreshes once, or
    says not connected / needs reconnect."""
    if context.status != "connected" or not fresh(context.access_token_encrypted, context.token_expires_at, now):
        return None
    return box.decrypt(context.access_token_encrypted or "")


async def access_token(
    session: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    box: SecretBox,
    user_id: uuid.UUID,
    service: Service,
) -> str:
    """A fresh access token for the user's service, refreshed here when close to expiry (row locked, so
    concurrent calls refresh once). Google's invalid_grant marks the service "needs reconnect" and tells
    the user once on WhatsApp."""
    row = await repo.integration_for_update(session, user_id, service.row)
    if row is None:
        raise NotConnected(f"{service.label} is not connected; the user can connect it on the dashboard")
    if row.status != "connected":
        raise NeedsReconnect(f"{service.label} needs to be connected again on the dashboard")
    now = datetime.now(UTC)
    if fresh(row.access_token_encrypted, row.token_expires_at, now):
        return box.decrypt(row.access_token_encrypted)
    if not row.refresh_token_encrypted:
        await _mark_needs_reconnect(session, settings, row.id, user_id, service, row.created_at)
        raise NeedsReconnect(f"{service.label} needs to be connected again on the dashboard")
    try:
        tokens = await oauth.refresh(http, settings, box.decrypt(row.refresh_token_encrypted))
    except oauth.GrantRevoked:
        await _mark_needs_reconnect(session, settings, row.id, user_id, service, row.created_at)
        raise NeedsReconnect(f"{service.label} needs to be connected again on the dashboard") from None
    values: dict = {
        "access_token_encrypted": box.encrypt(tokens.access_token),
        "token_expires_at": now + timedelta(seconds=tokens.expires_in),
    }
    if tokens.refresh_token:
        values["refresh_token_encrypted"] = box.encrypt(tokens.refresh_token)
    await repo.update_tokens(session, row.id, **values)
    return tokens.access_token


async def _mark_needs_reconnect(
    session: AsyncSession,
    settings: Settings,
    integration_id: uuid.UUID,
    user_id: uuid.UUID,
    service: Service,
    connected_at: datetime,
) -> None:
    await repo.update_tokens(
        session, integration_id, status="needs_reconnect", access_token_encrypted=None, token_expires_at=None
    )
    await repo.wake_reconciler(session, user_id)
    await enqueue_whatsapp(
        session,
        user_id,
        notices.needs_reconnect(service.label, settings.app_url),
        dedupe_key=notices.reconnect_key(user_id, service.row, connected_at),
    )
    log.info("google_needs_reconnect", user_id=str(user_id), service=service.name)


def service_of_row(row: str) -> Service:
    return BY_ROW[row]
