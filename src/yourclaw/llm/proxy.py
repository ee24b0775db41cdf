"""The metering LLM proxy: an assistant calls it as its Anthropic API (its proxy token as the API key);
it puts the user's own key or the shared key in its place, streams the answer back as it arrives, reads
the exact usage on the way, and leaves the accounting to `Meter` once the answer has ended.

Hot path: one database round trip (token, own key and balance together), then the upstream request.
No key ever reaches the caller: upstream headers are chosen from a short list, and so are the ones
returned. With no ANTHROPIC_API_KEY in development, a built-in stand-in answers instead of Anthropic
(`uses_standin`); in production, calls that need the shared key are refused with 503 until it is set.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping

import anyio
import httpx
import msgspec
import structlog
from litestar import Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yourclaw.billing import credits
from yourclaw.crypto import SecretBox
from yourclaw.llm import repository as repo
from yourclaw.llm.anthropic_fake import AnthropicFake
from yourclaw.llm.metering import Call, Meter
from yourclaw.llm.usage import UsageReader, request_head
from yourclaw.runtime.tokens import TOKEN_PREFIX, hash_token
from yourclaw.settings import Settings

log = structlog.get_logger(__name__)

# Long answers take minutes; between stream events Anthropic sends pings well inside this.
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=10.0)
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "accept")
RETURNED_HEADERS = ("request-id", "retry-after", "x-should-retry", "cache-control")
UPSTREAM_POOLS = 8
STANDIN_KEY = "sk-ant-standin-local-development-only"
OUT_OF_CREDITS = (
    "Insufficient credits: this account's credit balance is used up. Add credits or your own Anthropic API key "
    "in the YourClaw dashboard."
)


def uses_standin(settings: Settings) -> bool:
    """`yourclaw dev` with no shared key: the stand-in upstream. Production never uses it."""
    return settings.is_development and not settings.anthropic_api_key


class ProxyError(Exception):
    """An answer in Anthropic's error shape, which the assistant's Anthropic client understands."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def error_response(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers)


def presented_token(headers: Mapping[str, str]) -> str | None:
    """Anthropic clients send their key as x-api-key; Authorization: Bearer works too."""
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return api_key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _returned(upstream: httpx.Response) -> dict[str, str]:
    return {name: upstream.headers[name] for name in RETURNED_HEADERS if name in upstream.headers}


class Relay:
    """One answer on its way through: every chunk goes to the caller as it comes, and past the usage
    reader. However it ends (completed, upstream broke, caller gone) the upstream request is closed and
    what was seen is metered, exactly once."""

    def __init__(self, upstream: httpx.Response, reader: UsageReader, call: Call, meter: Meter) -> None:
        self._upstream = upstream
        self._reader = reader
        self._call = call
        self._meter = meter
        self._done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._upstream.aiter_raw():
                self._reader.feed(chunk)
                yield chunk
        except httpx.TransportError as exc:
            log.warning("llm_upstream_broke", error=type(exc).__name__, reference=self._call.reference)
            if not self._reader.streaming:
                raise
            # Anthropic's own way of saying a stream failed midway.
            yield b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream lost"}}\n\n'
        finally:
            await self.finish()

    async def finish(self) -> None:
        if self._done:
            return
        self._done = True
        # The caller may be gone (the response task cancelled): closing upstream must still happen.
        with anyio.CancelScope(shield=True):
            await self._upstream.aclose()
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
        self._standin: AnthropicFake | None = AnthropicFake() if uses_standin(settings) else None
        self.meter = Meter(self._engine, sessions, settings.app_url)
        # Several small pools: httpcore scans every connection of a pool for each request it places,
        # which at a few dozen concurrent streams cost more CPU than the proxying itself.
        self._pools = [
            httpx.AsyncClient(
                timeout=UPSTREAM_TIMEOUT,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=16, keepalive_expiry=30),
            )
            for _ in range(UPSTREAM_POOLS)
        ]
        self._next_pool = itertools.count()

    @property
    def standin(self) -> AnthropicFake | None:
        return self._standin

    async def start(self) -> None:
        if self._standin is not None:
            self.base_url = await asyncio.to_thread(self._standin.start)
            self._shared_key = STANDIN_KEY
            log.info("llm_standin_started", url=self.base_url, note="ANTHROPIC_API_KEY is not set")

    async def close(self) -> None:
        await self.meter.drain()
        for pool in self._pools:
            await pool.aclose()
        if self._standin is not None:
            await asyncio.to_thread(self._standin.stop)

    # --- who calls, with which key ------------------------------------------------------------------

    async def caller(self, headers: Mapping[str, str]) -> repo.CallerRow:
        token = presented_token(headers)
        # Not one of ours: no database work (and never echo what was sent).
        if token is None or not token.startswith(TOKEN_PREFIX):
            raise ProxyError(401, "authentication_error", "invalid x-api-key")
        async with self._engine.connect() as conn:
            row = await repo.caller_by_token(conn, hash_token(token))
        if row is None:
            raise ProxyError(401, "authentication_error", "invalid x-api-key")
        structlog.contextvars.bind_contextvars(user_id=str(row.user_id))
        return row

    def key_for(self, row: repo.CallerRow) -> tuple[str, bool]:
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

    async def messages(self, headers: Mapping[str, str], body: bytes) -> Response:
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
        if upstream.status_code != 200:
            return await self._whole(upstream)
        model, _ = head
        streaming = upstream.headers.get("content-type", "").startswith("text/event-stream")
        call = Call(row.user_id, f"llm:{uuid.uuid4().hex}", own)
        relay = Relay(upstream, UsageReader(model, streaming=streaming), call, self.meter)
        return Stream(
            relay.chunks(),
            status_code=200,
            media_type=upstream.headers.get("content-type", "application/json"),
            headers=_returned(upstream),
            background=BackgroundTask(relay.finish),
        )

    async def passthrough(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> Response:
        """Calls that cost nothing (model list, token count): forwarded with the caller's key, whole."""
        row = await self.caller(headers)
        key, _ = self.key_for(row)
        return await self._whole(await self._send(method, path, key, headers, body))

    async def _send(self, method: str, path: str, key: str, headers: Mapping[str, str], body: bytes) -> httpx.Response:
        outgoing = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        outgoing["x-api-key"] = key
        # The usage reader needs the bytes as sent: no compression on the way in.
        outgoing["accept-encoding"] = "identity"
        http = self._pools[next(self._next_pool) % UPSTREAM_POOLS]
        request = http.build_request(method, self.base_url + path, content=body or None, headers=outgoing)
        try:
            return await http.send(request, stream=True)
        except httpx.TimeoutException:
            raise ProxyError(504, "api_error", "Anthropic did not answer in time") from None
        except httpx.TransportError as exc:
            log.warning("llm_upstream_unreachable", error=type(exc).__name__)
            raise ProxyError(502, "api_error", "Anthropic could not be reached") from None

    async def _whole(self, upstream: httpx.Response) -> Response:
        """An answer passed through as it is (an upstream error keeps its status and body)."""
        try:
            content = await upstream.aread()
        except httpx.TransportError:
            raise ProxyError(502, "api_error", "Anthropic's answer was cut off") from None
        finally:
            await upstream.aclose()
        return Response(
            content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type", "application/json"),
            headers=_returned(upstream),
        )
