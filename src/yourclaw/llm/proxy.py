"""The metering LLM proxy: an assistant calls it as its Anthropic API (its proxy token as the API key);
it puts the user's own key or the shared key in its place, streams the answer back as it arrives, reads
the exact usage on the way, and leaves the accounting to `Meter` once the answer has ended.

Hot path: who calls (token, own key and balance) from `callers.CallerCache`, else one database round trip
that fills it; the call's worst case reserved against the credits (`admission`, one statement); then the
upstream request, whose answer is sent on as ASGI messages as it comes (`relay`; `proxy_controller` mounts
it as a bare route). A shared-key call may not declare Anthropic's server tools, which bill per use and add
input no bound can foresee, and its `anthropic-beta` values are kept to an allow-list (`call_bounds`).
Upstream is reached with aiohttp: its C parser reads a streamed answer for about a quarter of the CPU
that httpx's pure-Python one needed, and that was most of the proxy's own cost.

No key ever reaches the caller: upstream headers are chosen from a short list, and so are the ones
returned. Calls that need the shared key are refused with 503 until ANTHROPIC_API_KEY is set (in
development the Anthropic stand-in sets it, see `standins`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg
import msgspec
import structlog
from litestar.types import Send
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yourclaw.db.engine import make_driver_pool
from yourclaw.kit.asgi import ClientGone, hangup_deferred
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.llm import call_bounds, warmup
from yourclaw.llm import repository as repo
from yourclaw.llm.admission import OUT_OF_CREDITS, Admission
from yourclaw.llm.callers import CallerCache, CallerRow
from yourclaw.llm.errors import ProxyError
from yourclaw.llm.metering import Call, Meter
from yourclaw.llm.relay import UPSTREAM_ERRORS, Relay, response_start, returned
from yourclaw.llm.usage import Usage, UsageReader
from yourclaw.protocol.tokens import TOKEN_PREFIX, hash_token

log = structlog.get_logger(__name__)

# Long answers take minutes; between stream events Anthropic sends pings well inside the read timeout.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_connect=10.0, sock_read=600.0)
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "accept")


class UpstreamUnreachable(ProxyError):
    """Nothing reached Anthropic: nothing was billed."""


class _Counted(msgspec.Struct):
    input_tokens: int


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


async def send_whole(send: Send, whole: Whole) -> None:
    await send(response_start(whole.status, whole.content_type, whole.headers, len(whole.body)))
    await send({"type": "http.response.body", "body": whole.body})


class LlmProxy:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        pool: asyncpg.Pool,
    ) -> None:
        # One statement, no transaction: BEGIN/ROLLBACK would triple the round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._secrets = secrets
        self.base_url = settings.anthropic_base_url.rstrip("/")
        self._shared_key = settings.anthropic_api_key
        self._warmup_secret = settings.fernet_keys[0] if settings.fernet_keys else None
        # Reservations and settlements, a statement or two around every call, go through plain driver
        # connections of the proxy's own (`db.engine.make_driver_pool`).
        self._pool = pool
        self.meter = Meter(pool, sessions, settings.app_url, retry_for=settings.llm_reservation_ttl_seconds)
        self.admission = Admission(settings, pool)
        self._pending: set[asyncio.Task] = set()
        self._upstream: aiohttp.ClientSession | None = None  # made in `start`, on the running loop
        # Kept right by the process's notification listener (`CallerCache.attach`).
        self.callers = CallerCache()

    @classmethod
    def build(
        cls, settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox
    ) -> LlmProxy:
        pool = make_driver_pool(settings.database_url or "", size=settings.llm_db_pool_size)
        return cls(settings, engine, sessions, secrets, pool)

    async def start(self) -> None:
        await self._pool  # connects lazily: nothing is opened yet
        self._upstream = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            timeout=UPSTREAM_TIMEOUT,
            # The usage reader needs the bytes as sent, and so does the caller.
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )
        self.admission.start()

    async def close(self) -> None:
        # Answers still being read for a caller that left settle first, then the meter writes.
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=10.0)
        await self.admission.close()
        await self.meter.drain()
        if self._upstream is not None:
            await self._upstream.close()
        await self._pool.close()

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

    async def messages(self, headers: Mapping[str, str], body: bytes, send: Send, purpose: str = "reply") -> None:
        """Answers the call on `send`; a ProxyError raised before anything was sent is for the caller to
        answer (see `proxy_controller`)."""
        token = presented_token(headers) or ""
        if token.startswith(warmup.WARMUP_PREFIX):
            await self._warmup(token, body, send)
            return
        row = await self.caller(headers)
        head = call_bounds.read_head(body)
        if head is None:
            raise ProxyError(400, "invalid_request_error", "The request body must be a JSON object")
        key, own = self.key_for(row)
        outgoing = self._headers(headers, key, own_key=own)
        if not own:
            if head.server_tools:
                raise ProxyError(
                    400,
                    "invalid_request_error",
                    f"Anthropic server tools ({', '.join(sorted(set(head.server_tools)))}) are not available on "
                    "YourClaw's included credits; add your own Anthropic API key in the dashboard to use them",
                )
            if row.balance.remaining_millicents <= 0:
                # Known to be out from the cached balance: refused without a database round trip.
                self.meter.refused(row.user_id, row.balance.total_millicents)
                raise ProxyError(402, "billing_error", OUT_OF_CREDITS, {"x-should-retry": "false"})

        async def count(counted: bytes) -> int | None:
            return await self._count_tokens(outgoing, counted)

        try:
            admitted = await self.admission.admit(row.user_id, head, body, own_key=own, count=count)
        except ProxyError as refused:
            if refused.status == 402:
                self.meter.refused(row.user_id, row.balance.total_millicents)
            raise
        call = Call(row.user_id, admitted.reference, own, admitted.held_millicents, purpose)
        # A caller that leaves while upstream is still thinking must not hide what the call costs (Anthropic
        # bills it all the same): the request is not cut, and its answer is then read for nobody.
        with hangup_deferred() as hung_up:
            try:
                upstream = await self._send("POST", "/v1/messages", outgoing, admitted.body)
            except UpstreamUnreachable:
                self._settle(call, head.model, Usage())
                raise
            except ProxyError:
                self._settle(call, head.model, None)
                raise
            except asyncio.CancelledError:
                # Not a hang-up: the server stopping cut the request. What upstream billed is unknown.
                self._settle(call, head.model, None)
                raise
            if hung_up():
                self._orphaned(upstream, call, head)
                raise ClientGone()
        if upstream.status != 200:
            # Anthropic bills no failed call.
            self._settle(call, head.model, Usage())
            await send_whole(send, await self._whole(upstream))
            return
        await self._relay(upstream, call, head).send_to(send, self._spawn)

    def is_warmup(self, headers: Mapping[str, str]) -> bool:
        """A pool container's own placeholder token, checked without the database."""
        token = presented_token(headers) or ""
        return self._warmup_secret is not None and warmup.is_warmup_token(self._warmup_secret, token)

    async def _warmup(self, token: str, body: bytes, send: Send) -> None:
        """A pool container's warm-up turn: answered here, nothing upstream, nobody charged."""
        if self._warmup_secret is None or not warmup.is_warmup_token(self._warmup_secret, token):
            raise ProxyError(401, "authentication_error", "invalid x-api-key")
        try:
            request = msgspec.json.decode(body)
        except msgspec.DecodeError:
            request = None
        if not isinstance(request, dict):
            raise ProxyError(400, "invalid_request_error", "The request body must be a JSON object")
        content_type, answer = warmup.local_answer(str(request.get("model") or ""), stream=bool(request.get("stream")))
        await send_whole(send, Whole(200, answer, content_type, {}))

    def _relay(self, upstream: aiohttp.ClientResponse, call: Call, head: call_bounds.RequestHead) -> Relay:
        streaming = upstream.headers.get("content-type", "").startswith("text/event-stream")
        return Relay(upstream, UsageReader(head.model, streaming=streaming), call, self._settle)

    def _orphaned(self, upstream: aiohttp.ClientResponse, call: Call, head: call_bounds.RequestHead) -> None:
        """Upstream answered after the caller left."""
        if upstream.status != 200:
            upstream.release()
            self._settle(call, head.model, Usage())
            return
        self._spawn(self._relay(upstream, call, head).drain())

    def _settle(self, call: Call, model: str, usage: Usage | None) -> None:
        self.admission.ended(call.reference)
        self.meter.record(call, model, usage)

    def _spawn(self, work) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _count_tokens(self, outgoing: dict[str, str], body: bytes) -> int | None:
        """The exact input count of a request (free at Anthropic); None when it cannot be had."""
        try:
            whole = await self._whole(await self._send("POST", "/v1/messages/count_tokens", outgoing, body))
            if whole.status != 200:
                return None
            return msgspec.json.decode(whole.body, type=_Counted).input_tokens
        except (ProxyError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def passthrough(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> Whole:
        """Calls that cost nothing (model list, token count): forwarded with the caller's key, whole."""
        row = await self.caller(headers)
        key, own = self.key_for(row)
        return await self._whole(await self._send(method, path, self._headers(headers, key, own_key=own), body))

    def _headers(self, headers: Mapping[str, str], key: str, *, own_key: bool) -> dict[str, str]:
        outgoing = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        if not own_key and "anthropic-beta" in outgoing:
            kept, dropped = call_bounds.allowed_betas(outgoing["anthropic-beta"])
            if dropped:
                log.info("llm_betas_dropped", betas=dropped)
            if kept:
                outgoing["anthropic-beta"] = kept
            else:
                del outgoing["anthropic-beta"]
        outgoing["x-api-key"] = key
        # The usage reader needs the bytes as sent: no compression on the way in.
        outgoing["accept-encoding"] = "identity"
        return outgoing

    async def _send(self, method: str, path: str, outgoing: dict[str, str], body: bytes) -> aiohttp.ClientResponse:
        if self._upstream is None:
            raise RuntimeError("LlmProxy.start() was not called")
        try:
            return await self._upstream.request(method, self.base_url + path, data=body or None, headers=outgoing)
        except aiohttp.ClientConnectorError as exc:
            log.warning("llm_upstream_unreachable", error=type(exc).__name__)
            raise UpstreamUnreachable(502, "api_error", "Anthropic could not be reached") from None
        except TimeoutError:
            raise ProxyError(504, "api_error", "Anthropic did not answer in time") from None
        except aiohttp.ClientError as exc:
            log.warning("llm_upstream_failed", error=type(exc).__name__)
            raise ProxyError(502, "api_error", "Anthropic could not be reached") from None

    async def _whole(self, upstream: aiohttp.ClientResponse) -> Whole:
        try:
            content = await upstream.read()
        except UPSTREAM_ERRORS:
            raise ProxyError(502, "api_error", "Anthropic's answer was cut off") from None
        finally:
            upstream.release()
        return Whole(
            upstream.status, content, upstream.headers.get("content-type", "application/json"), returned(upstream)
        )
