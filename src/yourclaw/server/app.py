"""The Litestar application factory: every package's routes joined under one app, the process's state
built in its lifespan, and the hottest calls mounted as bare routes once that state exists."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from yourclaw import __version__, standins
from yourclaw.accounts import routes as accounts_routes
from yourclaw.assistants import routes as assistants_routes
from yourclaw.billing import routes as billing_routes
from yourclaw.billing.controller import WEBHOOK_PATH as STRIPE_WEBHOOK_PATH
from yourclaw.integrations import mcp_server
from yourclaw.integrations import routes as integrations_routes
from yourclaw.kit import api
from yourclaw.kit.json_body import JsonRequest
from yourclaw.kit.request_context import request_id_middleware
from yourclaw.kit.settings import Settings
from yourclaw.llm import proxy_controller
from yourclaw.llm import routes as llm_routes
from yourclaw.messaging import routes as messaging_routes
from yourclaw.messaging.inbound.webhook import WhatsAppWebhook
from yourclaw.messaging.twilio.webhooks import STATUS_PATH as TWILIO_STATUS_PATH
from yourclaw.messaging.twilio.webhooks import WHATSAPP_PATH
from yourclaw.observability import exposition
from yourclaw.observability.metrics import WEBHOOK_SECONDS
from yourclaw.protocol import routes as protocol_routes
from yourclaw.senses import routes as senses_routes
from yourclaw.server import errors
from yourclaw.server.bare_routes import bare_route, timed
from yourclaw.server.dependencies import dependencies
from yourclaw.server.health import health
from yourclaw.server.state import AppState
from yourclaw.userdata import routes as userdata_routes
from yourclaw.web import routes as web_routes

# Webhooks answered by Litestar routes, timed around the whole request (their transaction commits after the
# handler returns, so the handler cannot time itself).
_TIMED_LITESTAR_ROUTES = {
    STRIPE_WEBHOOK_PATH: WEBHOOK_SECONDS.labels("stripe"),
    TWILIO_STATUS_PATH: WEBHOOK_SECONDS.labels("twilio_status"),
}


class YourClawApp(Litestar):
    """Litestar, with the hottest calls answered by bare routes before its own routing (`bare_routes`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Filled in the lifespan: the bare routes are built with the process's state.
        self.bare_routes: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http":
            route = self.bare_routes.get(scope["path"])
            if route is not None:
                scope["app"] = scope["litestar_app"] = self
                scope.setdefault("state", {})
                await route(scope, receive, send)
                return
            timer = _TIMED_LITESTAR_ROUTES.get(scope["path"])
            if timer is not None:
                started = time.perf_counter()
                try:
                    await super().__call__(scope, receive, send)
                finally:
                    timer.observe(time.perf_counter() - started)
                return
        await super().__call__(scope, receive, send)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _bare_routes(state: AppState) -> dict[str, ASGIApp]:
    return {
        WHATSAPP_PATH: timed(
            WEBHOOK_SECONDS.labels("twilio_whatsapp"),
            bare_route(WhatsAppWebhook(state.settings, state.inbound_writer, state.router_wakeup), errors.rendered),
        ),
        exposition.PATH: exposition.MetricsEndpoint(state.settings.metrics_token),
        **{
            path: bare_route(route, proxy_controller.rendered)
            for path, route in proxy_controller.messages_routes(state.llm).items()
        },
        # The assistant's MCP server for its user's Google services: the SDK's own ASGI app.
        mcp_server.PATH: bare_route(state.google_mcp, errors.rendered),
    }


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.app_state = state = AppState.build(settings)
        try:
            await state.start()
            app.bare_routes = _bare_routes(state)  # type: ignore[attr-defined]
            yield
        finally:
            app.bare_routes = {}  # type: ignore[attr-defined]
            await state.close()

    api_handlers: list = [
        health,
        *accounts_routes.handlers(settings),
        *assistants_routes.HANDLERS,
        *billing_routes.HANDLERS,
        *integrations_routes.HANDLERS,
        *llm_routes.API_HANDLERS,
        *messaging_routes.HANDLERS,
        *protocol_routes.HANDLERS,
        *web_routes.HANDLERS,
        *userdata_routes.HANDLERS,
        *standins.api_handlers(settings),
    ]
    app = YourClawApp(
        # The LLM proxy sits outside /api/v1: assistants name it as their Anthropic base URL.
        route_handlers=[
            Router(path=api.PREFIX, route_handlers=api_handlers),
            *llm_routes.ROOT_HANDLERS,
            *senses_routes.ROOT_HANDLERS,
            *web_routes.page_routes(settings),
        ],
        lifespan=[lifespan],
        dependencies=dependencies(),
        # A body is read before the route's dependencies say who sent it: bounded for every route.
        request_max_body_size=settings.request_max_body_bytes,
        # Every route's JSON body is decoded by it: malformed ones and NUL characters are 4xx there.
        request_class=JsonRequest,
        exception_handlers=errors.EXCEPTION_HANDLERS,
        middleware=[request_id_middleware],
        cors_config=CORSConfig(
            allow_origins=[_origin(settings.app_url)],
            allow_credentials=True,
            allow_headers=["authorization", "content-type", "x-request-id", "x-csrf-token"],
            expose_headers=["x-request-id"],
        ),
        openapi_config=OpenAPIConfig(
            title="YourClaw API",
            version=__version__,
            path=f"{api.PREFIX}/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        logging_config=None,
        debug=False,
    )

    def drain() -> None:
        """The server is stopping: waiting long polls answer 204 at once."""
        app_state = getattr(app.state, "app_state", None)
        if app_state is not None:
            app_state.inbound.shutdown()

    app.state.drain = drain
    return app
