"""The metering LLM proxy: an assistant calls it as its Anthropic API (its proxy token as the API key);
it puts the user's own key or the shared key in its place, streams the answer back as it arrives, reads
the exact usage on the way, and leaves the accounting to `Meter` once the answer has ended.

Hot path: who calls (token, own key and balance) from `callers.CallerCache`, else one database round trip
that fills it; then the upstream request, whose answer is sent on as ASGI messages as it comes
(`proxy_controller` mounts it as a bare route).
Upstream is reached with aiohttp: its C parser reads a streamed answer for about a quarter of the CPU
that httpx's pure-Python one needed, and that was most of the proxy's own cost.

No key ever reaches the caller: upstream headers are chosen from a short list, and so are the ones
returned. Calls that need the shared key are refused with 503 until ANTHROPIC_API_KEY is set (in
development the Anthropic stand-in sets it, see `standins`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import msgspec
import structlog
from litestar.types import Send
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yourclaw.credits import ledger as credits
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.llm import repository as repo
from yourclaw.llm.callers import CallerCache, CallerRow
from yourclaw.llm.metering import Call, Meter
from yourclaw.llm.usage import UsageReader, request_head
from yourclaw.protocol.tokens import TOKEN_PREFIX, hash_token

log = structlog.get_logger(__name__)

# Long answers take minutes; between stream events Anthropic sends pings well inside the read timeout.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_connect=10.0, sock_read=600.0)
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "accept")
RETURNED_HEADERS = ("request-id", "retry-after", "x-should-retry", "cache-control")
_UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
_STREAM_BROKE = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream lost"}}\n\n'
OUT_OF_CREDITS = (
    "Insufficient credits: this account's credit balance is used up. Add credits or your own Anthropic API key "
    "in the YourClaw dashboard."
)


class ProxyError(Exception):
    """An answer in Anthropic's error shape, which the assistant's Anthropic client understands."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def error_body(error_type: str, message: str) -> bytes:
    return msgspec.json.encode({"type": "error", "error": {"type": error_type, "message": message}})


def presented_token(headers: Mapping[str, str]) -> str | None:
    """Anthropic clients send their key as x-api-key; Authorization: Bearer works too."""
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return api_key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


@dataclass(frozen=True)
class Whole:
    """An answer read to its end: an upstream error keeps its status and body."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


def _returned(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {name: upstream.headers[name] for name in RETURNED_HEADERS if name in upstream.headers}


def _start(status: int, content_type: str, headers: dict[str, str], length: int | None = None) -> dict:
    head = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        head.append((b"content-length", str(length).encode()))
    head += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": head}


async def send_whole(send: Send, whole: Whole) -> None:
    await send(_start(whole.status, whole.content_type, whole.headers, len(whole.body)))
    await send({"type": "http.response.body", "body": whole.body})


class Relay:
    """One answer on its way through: every chunk goes to the caller as it comes, and past the usage
    reader. However it ends (completed, upstream broke, caller gone and the relay cancelled) the upstream
    request is closed and what was seen is metered, exactly once."""

    def __init__(self, upstream: aiohttp.ClientResponse, reader: UsageReader, call: Call, meter: Meter) -> None:
        self._upstream = upstream
        self._reader = reader
        self._call = call
        self._meter = meter
        self._complete = False

    async def send_to(self, send: Send) -> None:
        upstream = self._upstream
        content_type = upstream.headers.get("content-type", "application/json")
        try:
            await send(_start(200, content_type, _returned(upstream)))
            try:
                async for chunk in upstream.content.iter_any():
                    self._reader.feed(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._complete = True
            except _UPSTREAM_ERRORS as exc:
                log.warning("llm_upstream_broke", error=type(exc).__name__, reference=self._call.reference)
                if not self._reader.streaming:
                    raise  # a JSON answer cut short: the caller sees the connection end early
                # Anthropic's own way of saying a stream failed midway.
                await send({"type": "http.response.body", "body": _STREAM_BROKE, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # Read to its end, the connection goes back to the pool; otherwise closing it is what tells
            # Anthropic to stop generating (a caller that went away must not go on costing tokens).
            if self._complete:
                upstream.release()
            else:
                upstream.close()
            self._meter.record(self._call, self._reader.model, self._reader.finish())


class LlmProxy:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
    ) -> None:
        # One statement, no transaction: BEGIN/ROLLBACK would triple the round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._secrets = secrets
        self.base_url = settings.anthropic_base_url.rstrip("/")
        self._shared_key = settings.anthropic_api_key
        self.meter = Meter(self._engine, sessions, settings.app_url)
        self._upstream: aiohttp.ClientSession | None = None  # made in `start`, on the running loop
        # Kept right by the process's notification listener (`CallerCache.attach`).
        self.callers = CallerCache()

    async def start(self) -> None:
        self._upstream = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            timeout=UPSTREAM_TIMEOUT,
            # The usage reader needs the bytes as sent, and so does the caller.
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        await self.meter.drain()
        if self._upstream is not None:
            await self._upstream.close()

    # --- who calls, with which key ------------------------------------------------------------------

    async def caller(self, headers: Mapping[str, str]) -> CallerRow:
        token = presented_token(headers)
        # Not one of ours: no database work (and never echo what was sent).
        if token is None or not token.startswith(TOKEN_PREFIX):
            raise ProxyError(401, "authentication_error", "invalid x-api-key")
        token_hash = hash_token(token)
        row = self.callers.get(token_hash, datetime.now(UTC))
        if row is None:
            stamp = self.callers.stamp()
            async with self._engine.connect() as conn:
                row = await repo.caller_by_token(conn, token_hash)
            if row is None:
                raise ProxyError(401, "authentication_error", "invalid x-api-key")
            self.callers.put(token_hash, row, stamp)
        structlog.contextvars.bind_contextvars(user_id=str(row.user_id))
        return row

    def key_for(self, row: CallerRow) -> tuple[str, bool]:
        """The user's own key when set, else the shared one: (key, own)."""
        if row.encrypted_key is not None:
            return self._secrets.decrypt(row.encrypted_key), True
        if not self._shared_key:
            raise ProxyError(
                503,
                "api_error",
                "LLM_NOT_CONFIGURED: no shared Anthropic key is configured (ANTHROPIC_API_KEY); "
                "add your own key in the dashboard",
            )
        return self._shared_key, False

    # --- the calls ----------------------------------------------------------------------------------

    async def messages(self, headers: Mapping[str, str], body: bytes, send: Send) -> None:
        """Answers the call on `send`; a ProxyError raised before anything was sent is for the caller to
        answer (see `proxy_controller`)."""
        row = await self.caller(headers)
        head = request_head(body)
        if head is None:
            raise ProxyError(400, "invalid_request_error", "The request body must be a JSON object")
        key, own = self.key_for(row)
        if not credits.decide(own_key=own, current=row.balance).allowed:
            self.meter.refused(row.user_id)
            # 402 billing_error: Anthropic's status for billing, which clients do not retry.
            raise ProxyError(402, "billing_error", OUT_OF_CREDITS, {"x-should-retry": "false"})
        upstream = await self._send("POST", "/v1/messages", key, headers, body)
        if upstream.status != 200:
            await send_whole(send, await self._whole(upstream))
            return
        model, _ = head
        streaming = upstream.headers.get("content-type", "").startswith("text/event-stream")
        call = Call(row.user_id, f"llm:{uuid.uuid4().hex}", own)
        await Relay(upstream, UsageReader(model, streaming=streaming), call, self.meter).send_to(send)

    async def passthrough(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> Whole:
        """Calls that cost nothing (model list, token count): forwarded with the caller's key, whole."""
        row = await self.caller(headers)
        key, _ = self.key_for(row)
        return await self._whole(await self._send(method, path, key, headers, body))

    async def _send(
        self, method: str, path: str, key: str, headers: Mapping[str, str], body: bytes
    ) -> aiohttp.ClientResponse:
        if self._upstream is None:
            raise RuntimeError("LlmProxy.start() was not called")
        outgoing = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        outgoing["x-api-key"] = key
        # The usage reader needs the bytes as sent: no compression on the way in.
        outgoing["accept-encoding"] = "identity"
        try:
            return await self._upstream.request(method, self.base_url + path, data=body or None, headers=outgoing)
        except TimeoutError:
            raise ProxyError(504, "api_error", "Anthropic did not answer in time") from None
        except aiohttp.ClientError as exc:
            log.warning("llm_upstream_unreachable", error=type(exc).__name__)
            raise ProxyError(502, "api_error", "Anthropic could not be reached") from None

    async def _whole(self, upstream: aiohttp.ClientResponse) -> Whole:
        try:
            content = await upstream.read()
        except _UPSTREAM_ERRORS:
            raise ProxyError(502, "api_error", "Anthropic's answer was cut off") from None
        finally:
            upstream.release()
        return Whole(
            upstream.status, content, upstream.headers.get("content-type", "application/json"), _returned(upstream)
        )
