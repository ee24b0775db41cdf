"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from yourclaw import __version__
from yourclaw.accounts.controller import DevAuthController, UsersController
from yourclaw.assistants.controller import AssistantsController
from yourclaw.billing import controller as billing_routes
from yourclaw.kit.request_context import request_id_middleware
from yourclaw.kit.settings import Settings
from yourclaw.llm import proxy_controller
from yourclaw.llm.own_keys.controller import ApiKeysController
from yourclaw.llm.proxy_controller import LlmProxyController
from yourclaw.messaging import routes as inbound_routes
from yourclaw.messaging.inbound import webhook as inbound_webhook
from yourclaw.protocol import routes as protocol_routes
from yourclaw.protocol.poll_controller import PollController
from yourclaw.server.bare_routes import bare_route
from yourclaw.server.dependencies import provide_app_state, provide_db_session
from yourclaw.server.errors import EXCEPTION_HANDLERS, rendered
from yourclaw.server.health import health
from yourclaw.server.state import AppState
from yourclaw.web import routes as web_routes

API_PREFIX = "/api/v1"


class YourClawApp(Litestar):
    """Litestar, with the hottest calls answered by bare routes before its own routing (`bare_routes`)."""

    def __init__(self, *args, bare_routes: dict[str, ASGIApp], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bare_routes = bare_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http":
            route = self.bare_routes.get(scope["path"])
            if route is not None:
                scope["app"] = scope["litestar_app"] = self
                scope.setdefault("state", {})
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.app_state = AppState.build(settings)
        try:
            await app.state.app_state.start()
            yield
        finally:
            await app.state.app_state.close()

    handlers: list = [
        health,
        UsersController,
        AssistantsController,
        ApiKeysController,
        PollController,
        *inbound_routes.HANDLERS,
        *protocol_routes.HANDLERS,
        *billing_routes.HANDLERS,
        *web_routes.api_handlers(settings),
    ]
    if settings.dev_sign_in:
        handlers.append(DevAuthController)
    api = Router(path=API_PREFIX, route_handlers=handlers)

    app = YourClawApp(
        bare_routes={
            API_PREFIX + inbound_webhook.PATH: bare_route(inbound_webhook.twilio_whatsapp_webhook, rendered),
            proxy_controller.MESSAGES_PATH: bare_route(proxy_controller.messages_route, proxy_controller.rendered),
        },
        # The LLM proxy sits outside /api/v1: assistants name it as their Anthropic base URL.
        route_handlers=[api, LlmProxyController, *web_routes.page_routes(settings)],
        lifespan=[lifespan],
        dependencies={
            "app_state": Provide(provide_app_state, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
        },
        exception_handlers=EXCEPTION_HANDLERS,
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
            path=f"{API_PREFIX}/schema",
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
