"""The MCP server the assistant reaches its user's Google services through (`/mcp/google`, streamable HTTP,
the official `mcp` SDK, stateless with JSON answers: every request stands alone, so any API process serves it).

The assistant authenticates with its own token, the one its config already carries; a container never holds
a Google token. Each request answers for the token's user only: the tools listed are those of the services
that user has connected now (a disconnected service's tools are gone from the next call), each call is
rationed per user (GOOGLE_TOOL_CALLS_PER_MINUTE) and audited (user, tool, outcome, duration: no content).

A call costs two database round trips when its token's owner is remembered (`callers.TokenOwners`) and its
access token is fresh: the rate-limit count with the integration row, then the audit row, each one
autocommitted statement. Only a refresh takes the integration row's lock.
"""

from __future__ import annotations

import contextvars
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import httpx
import mcp_types as types
import structlog
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.integrations import repository as repo
from yourclaw.integrations import service as integrations
from yourclaw.integrations.callers import TokenOwners
from yourclaw.integrations.errors import NeedsReconnect, NotConnected
from yourclaw.integrations.google_api import GoogleApi, GoogleApiError, new_session
from yourclaw.integrations.services import BY_ROW, SERVICES
from yourclaw.integrations.tools import BY_NAME, TOOLS
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.errors import YourClawError
from yourclaw.kit.settings import Settings
from yourclaw.protocol import tokens

log = structlog.get_logger(__name__)

PATH = "/mcp/google"
# Where the authenticated caller rides along the request into the MCP handlers.
_SCOPE_KEY = "yourclaw.user_id"
# The same, for handlers the SDK runs in the request's own task (its newer protocol era).
_caller: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar("mcp_google_caller", default=None)


@asynccontextmanager
async def _driver(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as the driver's own, in autocommit: a tool call's lookups and its audit row are
    one statement each, with no BEGIN/COMMIT round trips around them."""
    async with sessions() as session:
        conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


def _text(payload: Any, *, error: bool = False) -> types.CallToolResult:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, default=str)
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


async def _answer(send: Any, status: int, detail: str, code: str, header: tuple[bytes, bytes]) -> None:
    body = json.dumps({"detail": detail, "code": code}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), header]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class GoogleMcp:
    """An ASGI app: authenticate, then hand the request to the SDK's streamable-HTTP manager."""

    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, box: SecretBox
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._http = http
        self._box = box
        # Assistant token -> user, kept right by the process's notification listener (`TokenOwners.attach`).
        self.owners = TokenOwners()
        # Google's API client (aiohttp), open while `running`; `http` (httpx) still does OAuth refreshes.
        self._google: aiohttp.ClientSession | None = None
        self.server: Server = Server(
            "yourclaw-google",
            instructions="The user's Google Calendar, Gmail and Drive, as far as they connected them.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        # Security of the transport is the bearer token (no cookies, no browser): DNS-rebinding checks would
        # only refuse the container's own host name.
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run(), new_session() as google:
            self._google = google
            try:
                yield
            finally:
                self._google = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("method") == "GET":
            # Stateless: nothing is ever pushed outside an answer, so no standing SSE stream (the spec's 405);
            # an open one would hold a connection per assistant for nothing.
            await _answer(send, 405, "This MCP server answers POST only", "METHOD_NOT_ALLOWED", (b"allow", b"POST"))
            return
        user_id = await self._authenticate(scope)
        if user_id is None:
            detail = "Send the assistant token as Authorization: Bearer <token>"
            await _answer(send, 401, detail, "INVALID_ASSISTANT_TOKEN", (b"www-authenticate", b"Bearer"))
            return
        scope[_SCOPE_KEY] = user_id
        reset = _caller.set(user_id)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            _caller.reset(reset)

    async def _authenticate(self, scope: dict) -> uuid.UUID | None:
        presented = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                kind, _, token = value.decode("latin-1").partition(" ")
                if kind.lower() == "bearer" and token.strip():
                    presented = token.strip()
        if presented is None or not presented.startswith(tokens.TOKEN_PREFIX):
            return None
        token_hash = tokens.hash_token(presented)
        known = self.owners.get(token_hash, datetime.now(UTC))
        if known is not None:
            return known
        stamp = self.owners.stamp()
        async with _driver(self._sessions) as conn:
            owner = await tokens.owner_on_driver(conn, presented)
        if owner is None:
            return None
        self.owners.put(token_hash, owner[0], owner[1], stamp)
        return owner[0]

    @staticmethod
    def _user_of(ctx: Any) -> uuid.UUID:
        request = getattr(ctx, "request", None)
        user_id = getattr(request, "scope", {}).get(_SCOPE_KEY) if request is not None else None
        user_id = user_id or _caller.get()
        if user_id is None:  # every request passed `__call__`; this would be a wiring error
            raise RuntimeError("an MCP request reached a handler without its caller")
        return user_id

    async def _connected(self, user_id: uuid.UUID) -> set[str]:
        async with self._sessions() as session:
            return {BY_ROW[row].name for row in await repo.connected_services(session, user_id)}

    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        connected = await self._connected(self._user_of(ctx))
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=t.schema)
                for t in TOOLS
                if t.service in connected
            ]
        )

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        user_id = self._user_of(ctx)
        tool = BY_NAME.get(params.name)
        if tool is None:
            return _text(f"Unknown tool {params.name[:64]!r}", error=True)
        service = SERVICES[tool.service]
        started = time.perf_counter()
        outcome, result = "ok", None
        try:
            limit = self._settings.google_tool_calls_per_minute
            now = datetime.now(UTC)
            # One statement: the user's calls in the last minute and their integration as it is now.
            async with _driver(self._sessions) as conn:
                context = await repo.call_context(conn, user_id, service.row, repo.minute_ago(now))
            if context.recent_calls >= limit:
                outcome = "rate_limited"
                result = _text(
                    f"Too many Google tool calls: at most {limit} a minute. Wait a minute, then try again.",
                    error=True,
                )
            else:
                # A fresh token is used as read; only a refresh (or its failure) takes the row lock.
                token = integrations.usable_token(self._box, context, now) or await self._locked_token(user_id, service)
            if result is None:
                if self._google is None:  # every request comes in while `running`; this would be a wiring error
                    raise RuntimeError("the Google MCP server is not running")
                api = GoogleApi(self._google, self._settings.google_api_base_url, token)
                result = _text(await tool.handler(api, params.arguments or {}))
        except (NotConnected, NeedsReconnect) as exc:
            outcome, result = "not_connected", _text(exc.detail, error=True)
        except (GoogleApiError, YourClawError) as exc:
            outcome = "error"
            result = _text(getattr(exc, "detail", None) or str(exc), error=True)
        except (KeyError, TypeError, ValueError) as exc:
            outcome, result = (
                "error",
                _text(f"Bad arguments for {tool.name}: {type(exc).__name__} {exc}"[:300], error=True),
            )
        duration_ms = int((time.perf_counter() - started) * 1000)
        async with _driver(self._sessions) as conn:
            await repo.insert_call(
                conn, user_id=user_id, service=service.row, tool=tool.name, outcome=outcome, duration_ms=duration_ms
            )
        log.info("google_tool_call", user_id=str(user_id), tool=tool.name, outcome=outcome, duration_ms=duration_ms)
        return result

    async def _locked_token(self, user_id: uuid.UUID, service: Any) -> str:
        """The access token through the row lock: refreshed here (once, however many calls wait on the lock),
        or not connected / needs reconnect."""
        async with self._sessions() as session:
            try:
                return await integrations.access_token(session, self._settings, self._http, self._box, user_id, service)
            finally:
                # A refresh's new token, or "needs reconnect" and its notice, stay even when the call fails.
                await session.commit()
