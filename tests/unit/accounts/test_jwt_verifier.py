from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from yourclaw.accounts.jwt_verifier import RETRY_FIRST, RETRY_MAX, Claims, TokenVerifier, issue_dev_token
from yourclaw.kit.errors import NotAuthenticated, ServiceUnavailable, YourClawError

pytestmark = pytest.mark.unit

ISSUER = "https://project-ref.supabase.co/auth/v1"
HS_SECRET = "dev-secret-that-is-long-enough-for-hs256-0123456789"


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose key set and health the test controls."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes | None = None
        self.requests = 0
        self._mutex = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
                with server._mutex:
                    server.requests += 1
                    status = server.status
                    body = server.body
                    if body is None:
                        body = json.dumps({"keys": server.keys}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        # A short poll interval keeps shutdown() from stalling each test by the default half second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "8f1c2d4e-0000-4000-8000-000000000001",
        "email": "ada@example.com",
        "aud": "authenticated",
        "role": "authenticated",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _forge(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ec_key_rotated() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(ec_key: Any, rsa_key: Any) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [_public_jwk(ec_key, "ec-1", "ES256"), _public_jwk(rsa_key, "rsa-1", "RS256")]
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False keeps any proxy settings in the environment away from 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(jwks: JwksServer, http: httpx.AsyncClient, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(jwks_url=jwks.url, hs256_secret=HS_SECRET, issuer=ISSUER, http=http, clock=clock)


async def _rejected(verifier: TokenVerifier, token: str, code: str) -> YourClawError:
    with pytest.raises(YourClawError) as info:
        await verifier.verify(token)
    err = info.value
    assert err.code == code, err.detail
    if token:
        assert token not in err.detail
        assert token not in str(err)
        for part in token.split("."):
            if len(part) > 8:
                assert part not in err.detail
    return err


# --- accepted tokens -------------------------------------------------------


async def test_valid_es256(verifier: TokenVerifier, ec_key: Any) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    claims = await verifier.verify(token)
    assert isinstance(claims, Claims)
    assert claims.sub == "8f1c2d4e-0000-4000-8000-000000000001"
    assert claims.email == "ada@example.com"
    assert claims.role == "authenticated"
    assert claims.exp > time.time()


async def test_valid_rs256(verifier: TokenVerifier, rsa_key: Any) -> None:
    token = jwt.encode(_payload(sub="user-rsa"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert (await verifier.verify(token)).sub == "user-rsa"


async def test_valid_hs256(verifier: TokenVerifier, jwks: JwksServer) -> None:
    token = jwt.encode(_payload(sub="user-hs", email=None, role=None), HS_SECRET, algorithm="HS256")
    claims = await verifier.verify(token)
    assert claims == Claims(sub="user-hs", email=None, exp=claims.exp, role=None, issued_by_ms=claims.issued_by_ms)
    # The shared-secret path must not depend on, or touch, the JWKS.
    assert jwks.requests == 0


@pytest.mark.parametrize("email", ["a" * 310 + "@example.com", "a\x00b@example.com"])
async def test_an_email_the_database_cannot_store_is_not_kept(verifier: TokenVerifier, email: str) -> None:
    token = jwt.encode(_payload(email=email), HS_SECRET, algorithm="HS256")
    assert (await verifier.verify(token)).email is None


async def test_a_token_issued_before_a_sign_out_is_known_to_be(verifier: TokenVerifier) -> None:
    signed_out = datetime(2026, 12, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    moment = int(signed_out.timestamp())

    async def claims(**payload: Any) -> Claims:
        return await verifier.verify(jwt.encode(_payload(**payload), HS_SECRET, algorithm="HS256"))

    # Whole seconds: only a second wholly before the sign-out is before it.
    assert (await claims(iat=moment - 1)).issued_before(signed_out)
    assert not (await claims(iat=moment)).issued_before(signed_out)
    # Milliseconds, as dev tokens carry them.
    assert (await claims(iat=moment, iat_ms=moment * 1000 + 499)).issued_before(signed_out)
    assert not (await claims(iat=moment, iat_ms=moment * 1000 + 501)).issued_before(signed_out)
    assert (await claims(iat=None)).issued_before(signed_out)
    assert not (await claims(iat=None)).issued_before(None)


async def test_dev_token_round_trip(http: httpx.AsyncClient) -> None:
    dev_issuer = "http://127.0.0.1:8000/dev-auth"
    verifier = TokenVerifier(jwks_url=None, hs256_secret=HS_SECRET, issuer=dev_issuer, http=http)
    token = issue_dev_token(HS_SECRET, sub="dev-user", email="dev@example.com", issuer=dev_issuer, ttl_seconds=3600)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = await verifier.verify(token)
    assert claims.sub == "dev-user"
    assert claims.email == "dev@example.com"
    assert claims.role == "authenticated"
    assert 3600 - 60 <= claims.exp - time.time() <= 3600


async def test_dev_token_with_other_secret_or_issuer_is_rejected(http: httpx.AsyncClient) -> None:
    verifier = TokenVerifier(jwks_url=None, hs256_secret=HS_SECRET, issuer=ISSUER, http=http)
    wrong_secret = issue_dev_token("x" * 48, sub="u", email="u@example.com", issuer=ISSUER, ttl_seconds=60)
    await _rejected(verifier, wrong_secret, "INVALID_TOKEN")
    wrong_issuer = issue_dev_token(
        HS_SECRET, sub="u", email="u@example.com", issuer="https://elsewhere", ttl_seconds=60
    )
    await _rejected(verifier, wrong_issuer, "INVALID_TOKEN")


async def test_expiry_within_leeway_is_accepted(verifier: TokenVerifier, ec_key: Any) -> None:
    token = jwt.encode(_payload(exp=int(time.time()) - 5), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(token)).sub


async def test_issuer_not_checked_when_unset(jwks: JwksServer, http: httpx.AsyncClient, ec_key: Any) -> None:
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=None, issuer=None, http=http)
    token = jwt.encode(_payload(iss="https://anything"), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(token)).sub


# --- rejected claims -------------------------------------------------------


async def test_expired(verifier: TokenVerifier, ec_key: Any) -> None:
    now = int(time.time())
    token = jwt.encode(_payload(iat=now - 7200, exp=now - 3600), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    err = await _rejected(verifier, token, "TOKEN_EXPIRED")
    assert isinstance(err, NotAuthenticated)
    assert err.status_code == 401


async def test_expired_hs256(verifier: TokenVerifier) -> None:
    token = jwt.encode(_payload(exp=int(time.time()) - 3600), HS_SECRET, algorithm="HS256")
    await _rejected(verifier, token, "TOKEN_EXPIRED")


@pytest.mark.parametrize("aud", ["anon", "service_role", ["authenticated", "other"]])
async def test_wrong_audience(verifier: TokenVerifier, ec_key: Any, aud: Any) -> None:
    token = jwt.encode(_payload(aud=aud), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    err = await _rejected(verifier, token, "INVALID_TOKEN")
    assert err.status_code == 401


async def test_wrong_issuer(verifier: TokenVerifier, ec_key: Any) -> None:
    token = jwt.encode(
        _payload(iss="https://evil.supabase.co/auth/v1"), ec_key, algorithm="ES256", headers={"kid": "ec-1"}
    )
    await _rejected(verifier, token, "INVALID_TOKEN")


@pytest.mark.parametrize("missing", ["sub", "exp", "aud", "iss"])
async def test_missing_required_claim(verifier: TokenVerifier, rsa_key: Any, missing: str) -> None:
    payload = _payload()
    del payload[missing]
    token = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_empty_sub(verifier: TokenVerifier) -> None:
    token = jwt.encode(_payload(sub=""), HS_SECRET, algorithm="HS256")
    await _rejected(verifier, token, "INVALID_TOKEN")


# --- algorithm attacks -----------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_alg_none(verifier: TokenVerifier, jwks: JwksServer, alg: str) -> None:
    token = _forge({"alg": alg, "typ": "JWT"}, _payload())
    assert token.endswith(".")
    await _rejected(verifier, token, "INVALID_TOKEN")
    assert jwks.requests == 0


async def test_alg_none_with_kid(verifier: TokenVerifier) -> None:
    token = _forge({"alg": "none", "kid": "ec-1"}, _payload())
    await _rejected(verifier, token, "INVALID_TOKEN")


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS512", "ES384", "PS256", "EdDSA"])
async def test_other_algorithms_rejected(verifier: TokenVerifier, alg: str) -> None:
    token = _forge({"alg": alg, "kid": "rsa-1"}, _payload(), sign=lambda m: b"\x00" * 64)
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_missing_alg(verifier: TokenVerifier) -> None:
    token = _forge({"typ": "JWT"}, _payload(), sign=lambda m: b"sig")
    await _rejected(verifier, token, "INVALID_TOKEN")


def _rsa_pem_hmac(rsa_key: Any) -> Any:
    # PyJWT refuses a PEM as an HMAC secret even when signing, so the attack
    # token has to be made by hand, as an attacker would.
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return lambda message: hmac.new(pem, message, hashlib.sha256).digest()


@pytest.mark.parametrize("with_secret", [True, False])
async def test_hs256_signed_with_rsa_public_key_rejected(
    jwks: JwksServer, http: httpx.AsyncClient, rsa_key: Any, with_secret: bool
) -> None:
    verifier = TokenVerifier(
        jwks_url=jwks.url, hs256_secret=HS_SECRET if with_secret else None, issuer=ISSUER, http=http
    )
    for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": "rsa-1"}):
        token = _forge(header, _payload(), sign=_rsa_pem_hmac(rsa_key))
        await _rejected(verifier, token, "INVALID_TOKEN")
    # Rejection never consulted the public keys at all.
    assert jwks.requests == 0


async def test_hs256_rejected_without_secret(jwks: JwksServer, http: httpx.AsyncClient) -> None:
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=None, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), HS_SECRET, algorithm="HS256")
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_asymmetric_rejected_without_jwks(http: httpx.AsyncClient, ec_key: Any) -> None:
    verifier = TokenVerifier(jwks_url=None, hs256_secret=HS_SECRET, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_es256_header_with_rsa_kid_rejected(
    verifier: TokenVerifier, jwks: JwksServer, ec_key: Any, rsa_key: Any
) -> None:
    signers = [
        lambda m: ECAlgorithm(ECAlgorithm.SHA256).sign(m, ec_key),
        lambda m: RSAAlgorithm(RSAAlgorithm.SHA256).sign(m, rsa_key),
    ]
    for sign in signers:
        token = _forge({"alg": "ES256", "kid": "rsa-1"}, _payload(), sign=sign)
        await _rejected(verifier, token, "INVALID_TOKEN")
    # A type mismatch on a known kid is not a rotation: no refetch.
    assert jwks.requests == 1


async def test_rs256_header_with_ec_kid_rejected(verifier: TokenVerifier, rsa_key: Any) -> None:
    token = jwt.encode(_payload(), rsa_key, algorithm="RS256", headers={"kid": "ec-1"})
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_jwk_alg_must_agree(jwks: JwksServer, http: httpx.AsyncClient, rsa_key: Any) -> None:
    jwks.keys = [_public_jwk(rsa_key, "rsa-384", "RS384")]
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=None, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), rsa_key, algorithm="RS256", headers={"kid": "rsa-384"})
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_bad_signature(verifier: TokenVerifier, ec_key_rotated: Any) -> None:
    token = jwt.encode(_payload(), ec_key_rotated, algorithm="ES256", headers={"kid": "ec-1"})
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_tampered_payload(verifier: TokenVerifier, ec_key: Any) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    header, _, signature = token.split(".")
    forged = f"{header}.{_b64(json.dumps(_payload(sub='someone-else')).encode())}.{signature}"
    await _rejected(verifier, forged, "INVALID_TOKEN")


# --- JWKS caching and refetching -------------------------------------------


async def test_jwks_cached(verifier: TokenVerifier, jwks: JwksServer, ec_key: Any, rsa_key: Any) -> None:
    for _ in range(3):
        await verifier.verify(jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"}))
        await verifier.verify(jwt.encode(_payload(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}))
    assert jwks.requests == 1


async def test_jwks_refreshed_after_ttl(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    await verifier.verify(token)
    clock.advance(599)
    await verifier.verify(token)
    assert jwks.requests == 1
    clock.advance(2)
    await verifier.verify(token)
    assert jwks.requests == 2


async def test_unknown_kid_refetches_at_most_once_per_interval(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    await verifier.verify(jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"}))
    assert jwks.requests == 1
    clock.advance(31)

    bogus = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "bogus-1"})
    err = await _rejected(verifier, bogus, "UNKNOWN_KEY")
    assert err.status_code == 401
    assert jwks.requests == 2

    clock.advance(5)
    bogus2 = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "bogus-2"})
    await _rejected(verifier, bogus2, "UNKNOWN_KEY")
    assert jwks.requests == 2

    clock.advance(30)
    await _rejected(verifier, bogus2, "UNKNOWN_KEY")
    assert jwks.requests == 3


async def test_unknown_kid_right_after_startup_fetch_does_not_refetch(
    verifier: TokenVerifier, jwks: JwksServer, ec_key: Any
) -> None:
    bogus = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "bogus"})
    await _rejected(verifier, bogus, "UNKNOWN_KEY")
    assert jwks.requests == 1


async def test_concurrent_unknown_kids_coalesce(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    await verifier.verify(jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"}))
    clock.advance(31)
    tokens = [jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": f"bogus-{i}"}) for i in range(25)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, NotAuthenticated) and r.code == "UNKNOWN_KEY" for r in results)
    assert jwks.requests == 2


async def test_concurrent_cold_start_fetches_once(verifier: TokenVerifier, jwks: JwksServer, ec_key: Any) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(25)))
    assert {c.sub for c in results} == {_payload()["sub"]}
    assert jwks.requests == 1


async def test_rotated_key_picked_up(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any, ec_key_rotated: Any
) -> None:
    await verifier.verify(jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"}))
    assert jwks.requests == 1

    jwks.keys = [*jwks.keys, _public_jwk(ec_key_rotated, "ec-2", "ES256")]
    clock.advance(31)
    token = jwt.encode(_payload(sub="after-rotation"), ec_key_rotated, algorithm="ES256", headers={"kid": "ec-2"})
    assert (await verifier.verify(token)).sub == "after-rotation"
    assert jwks.requests == 2
    assert (await verifier.verify(token)).sub == "after-rotation"
    assert jwks.requests == 2


async def test_empty_jwks_means_no_keys(jwks: JwksServer, http: httpx.AsyncClient, ec_key: Any) -> None:
    jwks.keys = []
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=HS_SECRET, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    await _rejected(verifier, token, "UNKNOWN_KEY")
    assert (await verifier.verify(jwt.encode(_payload(), HS_SECRET, algorithm="HS256"))).sub


async def test_encryption_keys_ignored(jwks: JwksServer, http: httpx.AsyncClient, ec_key: Any) -> None:
    jwks.keys = [{**_public_jwk(ec_key, "ec-1", "ES256"), "use": "enc"}]
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=None, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    await _rejected(verifier, token, "UNKNOWN_KEY")


# --- identity provider failures --------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_jwks_server_down(http: httpx.AsyncClient, ec_key: Any) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/auth/v1/.well-known/jwks.json"
    verifier = TokenVerifier(jwks_url=url, hs256_secret=HS_SECRET, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    err = await _rejected(verifier, token, "AUTH_UNAVAILABLE")
    assert isinstance(err, ServiceUnavailable)
    assert err.status_code == 503
    # HS256 tokens keep working while the JWKS is unreachable.
    assert (await verifier.verify(jwt.encode(_payload(), HS_SECRET, algorithm="HS256"))).sub


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b'{"error": "boom"}'), (200, b"<html>not json</html>"), (200, b"[]"), (200, b'{"keys": 7}')],
)
async def test_jwks_bad_response(
    jwks: JwksServer, http: httpx.AsyncClient, ec_key: Any, status: int, body: bytes
) -> None:
    jwks.status, jwks.body = status, body
    verifier = TokenVerifier(jwks_url=jwks.url, hs256_secret=None, issuer=ISSUER, http=http)
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    err = await _rejected(verifier, token, "AUTH_UNAVAILABLE")
    assert err.status_code == 503


async def test_jwks_recovers_after_outage(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    jwks.status, jwks.body = 503, b"{}"
    await _rejected(verifier, token, "AUTH_UNAVAILABLE")
    jwks.status, jwks.body = 200, None
    # The next attempt waits out the backoff: no fetch per call while the JWKS is down.
    await _rejected(verifier, token, "AUTH_UNAVAILABLE")
    assert jwks.requests == 1
    clock.advance(RETRY_FIRST)
    assert (await verifier.verify(token)).sub
    assert jwks.requests == 2


async def test_an_outage_past_the_ttl_is_served_from_the_cached_keys(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(token)).sub
    jwks.status, jwks.body = 503, b"{}"
    clock.advance(601)
    # The refresh fails; the keys fetched 601 s ago still verify, and 100 calls make one attempt.
    for _ in range(100):
        assert (await verifier.verify(token)).sub
    assert jwks.requests == 2
    # Attempts back off (doubling) while it lasts, each one still served from the cache.
    waited = 0.0
    for attempt in range(3, 8):
        step = min(RETRY_FIRST * 2 ** (attempt - 3), RETRY_MAX)
        clock.advance(step)
        waited += step
        assert (await verifier.verify(token)).sub
        assert (await verifier.verify(token)).sub
        assert jwks.requests == attempt
    # Back: the next attempt fetches, and the cache is fresh again.
    jwks.status, jwks.body = 200, None
    clock.advance(RETRY_MAX)
    assert (await verifier.verify(token)).sub
    assert jwks.requests == 8
    clock.advance(599)
    assert (await verifier.verify(token)).sub
    assert jwks.requests == 8


async def test_cached_keys_serve_an_outage_for_at_most_max_stale(
    jwks: JwksServer, http: httpx.AsyncClient, clock: FakeClock, ec_key: Any
) -> None:
    verifier = TokenVerifier(
        jwks_url=jwks.url, hs256_secret=None, issuer=ISSUER, http=http, clock=clock, max_stale=3600
    )
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(token)).sub
    jwks.status, jwks.body = 503, b"{}"
    clock.advance(3599)
    assert (await verifier.verify(token)).sub
    clock.advance(RETRY_MAX)
    await _rejected(verifier, token, "AUTH_UNAVAILABLE")


async def test_concurrent_requests_share_a_failed_fetch(verifier: TokenVerifier, jwks: JwksServer, ec_key: Any) -> None:
    jwks.status, jwks.body = 502, b"{}"
    token = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(25)), return_exceptions=True)
    assert all(isinstance(r, ServiceUnavailable) and r.code == "AUTH_UNAVAILABLE" for r in results)
    assert jwks.requests == 1


async def test_unknown_kid_refetch_failure_is_unavailable(
    verifier: TokenVerifier, jwks: JwksServer, clock: FakeClock, ec_key: Any
) -> None:
    await verifier.verify(jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "ec-1"}))
    jwks.status, jwks.body = 500, b"{}"
    clock.advance(31)
    bogus = jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "new"})
    await _rejected(verifier, bogus, "AUTH_UNAVAILABLE")
    # The failed attempt still counts against the interval.
    await _rejected(verifier, bogus, "UNKNOWN_KEY")
    assert jwks.requests == 2


# --- malformed input -------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "not.a.jwt",
        "a.b",
        "....",
        "eyJhbGciOiJIUzI1NiJ9",
        _b64(b"not json") + "." + _b64(b"{}") + ".",
        _b64(b'["alg", "HS256"]') + "." + _b64(b"{}") + "." + _b64(b"sig"),
        _b64(b'{"alg": "ES256", "kid": 42}') + "." + _b64(b"{}") + "." + _b64(b"sig"),
        _b64(b'{"alg": "ES256"}') + "." + _b64(b"{}") + "." + _b64(b"sig"),
        _b64(b'{"alg": "HS256"}') + "." + _b64(b"not json") + "." + _b64(b"sig"),
        "Bearer " + "x" * 40,
    ],
)
async def test_garbage_token(verifier: TokenVerifier, token: str) -> None:
    err = await _rejected(verifier, token, "INVALID_TOKEN")
    assert err.status_code == 401


async def test_hs256_garbage_payload_with_valid_signature(verifier: TokenVerifier) -> None:
    def sign(message: bytes) -> bytes:
        return hmac.new(HS_SECRET.encode(), message, hashlib.sha256).digest()

    signing_input = _b64(b'{"alg":"HS256"}') + "." + _b64(b"not json")
    token = f"{signing_input}.{_b64(sign(signing_input.encode()))}"
    await _rejected(verifier, token, "INVALID_TOKEN")


async def test_error_detail_never_contains_token(verifier: TokenVerifier, ec_key: Any, rsa_key: Any) -> None:
    now = int(time.time())
    tokens = {
        "TOKEN_EXPIRED": jwt.encode(_payload(exp=now - 3600), ec_key, algorithm="ES256", headers={"kid": "ec-1"}),
        "INVALID_TOKEN": jwt.encode(_payload(aud="x"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}),
        "UNKNOWN_KEY": jwt.encode(_payload(), ec_key, algorithm="ES256", headers={"kid": "nope"}),
    }
    for code, token in tokens.items():
        err = await _rejected(verifier, token, code)
        assert HS_SECRET not in err.detail
        assert "eyJ" not in err.detail


async def test_constructor_requires_a_key_source(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(jwks_url=None, hs256_secret=None, issuer=None, http=http)
