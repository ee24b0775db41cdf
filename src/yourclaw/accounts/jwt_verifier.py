"""Verification of Supabase Auth access tokens (asymmetric keys from a JWKS, or the legacy HS256 secret)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import jwt
import msgspec
import structlog

from yourclaw.accounts.errors import AuthUnavailable, InvalidToken, TokenExpired, UnknownSigningKey

log = structlog.get_logger(__name__)

# Each accepted algorithm is bound to the one key type that may verify it; this
# mapping is the allow-list, so anything absent (including "none") is rejected.
_ASYMMETRIC_KTY = {"ES256": "EC", "RS256": "RSA"}
_HMAC_ALG = "HS256"

_DEV_AUDIENCE = "authenticated"
# Seconds before the next JWKS fetch after a failed one, doubling up to the most.
RETRY_FIRST = 5.0
RETRY_MAX = 300.0
# users.email's width; an address the database could not store is not kept from a token.
_MAX_EMAIL = 320


class Claims(msgspec.Struct, frozen=True):
    sub: str
    email: str | None
    exp: int
    role: str | None
    # The latest the token can have been issued, in ms: `iat` counts whole seconds, so its last one;
    # our dev tokens also carry `iat_ms`. None when the token does not say.
    issued_by_ms: int | None = None

    def issued_before(self, moment: datetime | None) -> bool:
        """Issued before `moment` (a sign-out): a token that does not say when it was issued is too."""
        if moment is None:
            return False
        return self.issued_by_ms is None or self.issued_by_ms <= moment.timestamp() * 1000


def _invalid(detail: str) -> InvalidToken:
    return InvalidToken(detail)


def _unavailable() -> AuthUnavailable:
    return AuthUnavailable("The authentication service is unavailable")


class TokenVerifier:
    def __init__(
        self,
        *,
        jwks_url: str | None,
        hs256_secret: str | None,
        issuer: str | None,
        audience: str = "authenticated",
        http: httpx.AsyncClient,
        jwks_ttl: float = 600,
        refetch_min_interval: float = 30,
        max_stale: float = 6 * 3600,
        leeway: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not jwks_url and not hs256_secret:
            raise ValueError("TokenVerifier needs a JWKS URL, an HS256 secret, or both")
        self._jwks_url = jwks_url or None
        self._hs256_secret = hs256_secret or None
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._jwks_ttl = jwks_ttl
        self._refetch_min_interval = refetch_min_interval
        self._max_stale = max_stale
        self._leeway = leeway
        self._clock = clock

        self._keys: dict[str, tuple[jwt.PyJWK, ...]] | None = None
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        # Bumped as each fetch attempt finishes: a task that queued on the lock
        # compares it with the value it saw before waiting, and if it moved,
        # shares that attempt's outcome instead of fetching again.
        self._attempts = 0
        self._last_attempt_ok = False
        # After a failed fetch, none before this (backoff): an outage costs no fetch per call.
        self._failures = 0
        self._retry_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Claims:
        if not isinstance(token, str) or not token:
            raise _invalid("Missing or malformed access token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("Malformed access token") from None

        alg = header.get("alg")
        if alg == _HMAC_ALG:
            if self._hs256_secret is None:
                raise _invalid("Token algorithm is not accepted")
            key: Any = self._hs256_secret
        elif isinstance(alg, str) and alg in _ASYMMETRIC_KTY:
            if self._jwks_url is None:
                raise _invalid("Token algorithm is not accepted")
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise _invalid("Token has no key id")
            key = (await self._key_for(kid, alg)).key
        else:
            raise _invalid("Token algorithm is not accepted")

        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("Access token has expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise _invalid("Access token was not issued for this service") from None
        except jwt.MissingRequiredClaimError as e:
            raise _invalid(f"Access token lacks the {e.claim!r} claim") from None
        except jwt.PyJWTError:
            # InvalidKeyError is not an InvalidTokenError, hence the base class.
            raise _invalid("Invalid access token") from None

        return _claims_from(payload)

    async def _key_for(self, kid: str, alg: str) -> jwt.PyJWK:
        if self._keys is None or self._is_stale():
            await self._refresh()

        candidates = self._candidates(kid)
        if not candidates:
            await self._fetch_once(seen=self._attempts, throttle=True)
            candidates = self._candidates(kid)
            if not candidates:
                raise UnknownSigningKey("Access token was signed with an unknown key")

        for jwk in candidates:
            if jwk.key_type == _ASYMMETRIC_KTY[alg] and jwk.algorithm_name == alg:
                return jwk
        # The kid exists but names a key of another type or algorithm: a token
        # trying to get one kind of key used as another, not a rotation.
        raise _invalid("Token algorithm does not match its signing key")

    def _candidates(self, kid: str) -> tuple[jwt.PyJWK, ...]:
        return (self._keys or {}).get(kid, ())

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._jwks_ttl

    def _backing_off(self) -> bool:
        return self._retry_at is not None and self._clock() < self._retry_at

    def _cache_serves_outage(self) -> bool:
        """Keys past their TTL still verify while the JWKS cannot be fetched, up to max_stale after they
        were: an identity provider's outage must not sign everyone out, nor trust old keys for ever."""
        return (
            self._keys is not None
            and self._fetched_at is not None
            and self._clock() - self._fetched_at < self._max_stale
        )

    async def _refresh(self) -> None:
        try:
            if self._backing_off():
                raise _unavailable()
            await self._fetch_once(seen=self._attempts, throttle=False)
        except AuthUnavailable:
            if not self._cache_serves_outage():
                raise

    async def _fetch_once(self, *, seen: int, throttle: bool) -> None:
        async with self._lock:
            if self._attempts != seen:
                if not self._last_attempt_ok:
                    raise _unavailable()
                return
            if throttle and (
                self._backing_off()
                or (self._attempted_at is not None and self._clock() - self._attempted_at < self._refetch_min_interval)
            ):
                return
            self._attempted_at = self._clock()
            self._last_attempt_ok = False
            try:
                self._keys = await self._download()
                self._fetched_at = self._clock()
                self._last_attempt_ok = True
                self._failures, self._retry_at = 0, None
            except AuthUnavailable:
                self._failures += 1
                retry_in = min(RETRY_FIRST * 2 ** (self._failures - 1), RETRY_MAX)
                self._retry_at = self._clock() + retry_in
                age = None if self._fetched_at is None else round(self._clock() - self._fetched_at)
                log.warning("jwks_fetch_failed", failures=self._failures, retry_in=retry_in, cached_keys_age=age)
                raise
            finally:
                # Counted on completion, not start, so that callers who read the
                # counter while this fetch was in flight recognise it as newer.
                self._attempts += 1

    async def _download(self) -> dict[str, tuple[jwt.PyJWK, ...]]:
        assert self._jwks_url is not None
        try:
            response = await self._http.get(self._jwks_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise _unavailable() from e
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise _unavailable()

        # Supabase serves {"keys": []} for projects still on the shared secret,
        # and PyJWKSet refuses a set with no usable keys; both mean "no keys".
        if not document["keys"]:
            return {}
        try:
            jwk_set = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWKSetError:
            return {}
        except jwt.PyJWTError as e:
            raise _unavailable() from e

        keys: dict[str, tuple[jwt.PyJWK, ...]] = {}
        for jwk in jwk_set.keys:
            if not jwk.key_id or jwk.public_key_use not in (None, "sig"):
                continue
            if jwk.key_type not in _ASYMMETRIC_KTY.values():
                continue
            keys[jwk.key_id] = (*keys.get(jwk.key_id, ()), jwk)
        return keys


def _claims_from(payload: dict[str, Any]) -> Claims:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise _invalid("Access token has no subject")
    exp = payload.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise _invalid("Access token has an invalid expiry")
    email = payload.get("email")
    role = payload.get("role")
    return Claims(
        sub=sub,
        email=email if _storable_email(email) else None,
        exp=int(exp),
        role=role if isinstance(role, str) and role else None,
        issued_by_ms=_issued_by_ms(payload),
    )


def _issued_by_ms(payload: dict[str, Any]) -> int | None:
    exact, iat = payload.get("iat_ms"), payload.get("iat")
    if isinstance(exact, int) and not isinstance(exact, bool):
        return exact
    if isinstance(iat, int | float) and not isinstance(iat, bool):
        return int(iat) * 1000 + 999
    return None


def _storable_email(email: object) -> bool:
    return isinstance(email, str) and 0 < len(email) <= _MAX_EMAIL and "\x00" not in email


def issue_dev_token(secret: str, *, sub: str, email: str, issuer: str, ttl_seconds: int) -> str:
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    payload = {
        "sub": sub,
        "email": email,
        "aud": _DEV_AUDIENCE,
        "role": "authenticated",
        "iss": issuer,
        "iat": now,
        # Finer than `iat`: a sign-out and the next sign-in can fall in the same second.
        "iat_ms": now_ms,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(payload, secret, algorithm=_HMAC_ALG)
