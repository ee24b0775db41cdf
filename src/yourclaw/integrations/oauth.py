"""Google's OAuth 2.0 for a web server app, with PKCE (S256): the consent URL, redeeming the code,
refreshing an access token, revoking a grant, and asking whose account it is. Nothing here is stored."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from yourclaw.integrations.errors import GoogleUnavailable, OAuthExchangeRefused
from yourclaw.integrations.services import IDENTITY_SCOPES, Service
from yourclaw.kit.settings import Settings

CALLBACK_PATH = "/api/v1/oauth/google/{service}/callback"


class GrantRevoked(Exception):
    """Google answered invalid_grant to a refresh: the user revoked access, or the grant expired."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None
    scopes: tuple[str, ...]


def new_state() -> str:
    return secrets.token_urlsafe(32)


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def new_verifier() -> str:
    # 64 random bytes -> 86 characters, inside RFC 7636's 43..128.
    return secrets.token_urlsafe(64)


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def redirect_uri(settings: Settings, service: Service) -> str:
    return settings.api_url.rstrip("/") + CALLBACK_PATH.format(service=service.name)


def consent_url(settings: Settings, service: Service, state: str, verifier: str) -> str:
    query = {
        "client_id": settings.google_client_id,
        "redirect_uri": redirect_uri(settings, service),
        "response_type": "code",
        "scope": " ".join((*IDENTITY_SCOPES, *service.scopes)),
        # A refresh token, so the control plane can keep the access token fresh without the user.
        "access_type": "offline",
        # Incremental consent: each service asks only its own scopes, on top of what was granted before.
        "include_granted_scopes": "true",
        # Google hands a refresh token only on consent; asking again makes a reconnect get a new one.
        "prompt": "consent",
        "state": state,
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    return settings.google_auth_base_url.rstrip("/") + "/o/oauth2/v2/auth?" + urlencode(query)


def _token_url(settings: Settings) -> str:
    return settings.google_token_base_url.rstrip("/") + "/token"


async def _post_token(http: httpx.AsyncClient, settings: Settings, form: dict[str, str]) -> dict:
    try:
        response = await http.post(_token_url(settings), data=form)
    except httpx.HTTPError:
        raise GoogleUnavailable("Google could not be reached; try again in a moment") from None
    if response.status_code >= 500:
        raise GoogleUnavailable("Google could not be reached; try again in a moment")
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        # Google's error code only (e.g. invalid_grant): its description may quote what we sent.
        return {"error": str(body.get("error") or "invalid_request")}
    return body


def _tokens(body: dict) -> Tokens:
    return Tokens(
        access_token=str(body["access_token"]),
        expires_in=int(body.get("expires_in") or 3600),
        refresh_token=body.get("refresh_token"),
        scopes=tuple(str(body.get("scope") or "").split()),
    )


async def exchange(http: httpx.AsyncClient, settings: Settings, service: Service, code: str, verifier: str) -> Tokens:
    body = await _post_token(
        http,
        settings,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": settings.google_client_id or "",
            "client_secret": settings.google_client_secret or "",
            "redirect_uri": redirect_uri(settings, service),
        },
    )
    if "error" in body or "access_token" not in body:
        raise OAuthExchangeRefused(
            f"Google refused the authorization code ({body.get('error', 'no token')}): it may have been used "
            "already, or the PKCE verifier did not match. Press Connect again."
        )
    return _tokens(body)


async def refresh(http: httpx.AsyncClient, settings: Settings, refresh_token: str) -> Tokens:
    body = await _post_token(
        http,
        settings,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": settings.google_client_id or "",
            "client_secret": settings.google_client_secret or "",
        },
    )
    if body.get("error") == "invalid_grant":
        raise GrantRevoked()
    if "error" in body or "access_token" not in body:
        raise GoogleUnavailable(f"Google did not refresh the access token ({body.get('error', 'no token')})")
    return _tokens(body)


async def revoke(http: httpx.AsyncClient, settings: Settings, token: str) -> None:
    """Best effort: a token Google no longer knows is as revoked as it gets."""
    try:
        await http.post(settings.google_token_base_url.rstrip("/") + "/revoke", data={"token": token})
    except httpx.HTTPError:
        raise GoogleUnavailable("Google could not be reached to revoke access; try again in a moment") from None


async def account_email(http: httpx.AsyncClient, settings: Settings, access_token: str) -> str | None:
    try:
        response = await http.get(
            settings.google_api_base_url.rstrip("/") + "/oauth2/v3/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    email = response.json().get("email")
    return str(email)[:320] if email else None
