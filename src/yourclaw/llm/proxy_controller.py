"""The metering proxy's routes, at `{RUNTIME_API_URL}/llm/anthropic` (what an assistant's config names as
its Anthropic base URL). Every failure here answers in Anthropic's error shape, not `{"detail", "code"}`:
the caller is an Anthropic client and must understand it."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from yourclaw.dependencies import AppStateDep
from yourclaw.errors import YourClawError
from yourclaw.llm.proxy import ProxyError, error_response

log = structlog.get_logger(__name__)

PROXY_PATH = "/llm/anthropic"
# Anthropic accepts requests up to 32 MB (images and documents inline).
MAX_BODY = 32 * 1024 * 1024

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def _status_error(status: int, message: str) -> Response:
    return error_response(status, _TYPES.get(status, "api_error"), message)


def proxy_error(_: Request, exc: ProxyError) -> Response:
    return error_response(exc.status, exc.error_type, exc.message, exc.headers)


def domain_error(_: Request, exc: YourClawError) -> Response:
    return _status_error(exc.status_code, exc.detail if exc.status_code < 500 else "Internal server error")


def http_error(_: Request, exc: HTTPException) -> Response:
    message = exc.detail if exc.status_code < 500 else "Internal server error"
    return _status_error(exc.status_code, message or HTTPStatus(exc.status_code).phrase)


def unavailable(_: Request, exc: Exception) -> Response:
    log.warning("llm_proxy_database_unavailable", error=type(exc).__name__)
    return error_response(503, "api_error", "The service is temporarily unavailable", {"retry-after": "2"})


def internal_error(_: Request, exc: Exception) -> Response:
    log.exception("llm_proxy_error", error=type(exc).__name__)
    return error_response(500, "api_error", "Internal server error")


class LlmProxyController(Controller):
    path = PROXY_PATH
    tags = ["llm-proxy"]
    # Every class the app maps elsewhere, so none of them falls through to the app's JSON shape.
    exception_handlers = {
        ProxyError: proxy_error,
        YourClawError: domain_error,
        ValidationException: http_error,
        HTTPException: http_error,
        DBAPIError: unavailable,
        PoolTimeout: unavailable,
        OSError: unavailable,
        Exception: internal_error,
    }

    @post("/v1/messages", status_code=200, request_max_body_size=MAX_BODY)
    async def messages(self, request: Request, app_state: AppStateDep) -> Response:
        """Anthropic's Messages API, metered: streaming (SSE) and plain answers."""
        return await app_state.llm.messages(request.headers, await request.body())

    @post("/v1/messages/count_tokens", status_code=200, request_max_body_size=MAX_BODY)
    async def count_tokens(self, request: Request, app_state: AppStateDep) -> Response:
        return await app_state.llm.passthrough(
            "POST", "/v1/messages/count_tokens", request.headers, await request.body()
        )

    @get("/v1/models")
    async def models(self, request: Request, app_state: AppStateDep) -> Response:
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = "/v1/models" + (f"?{query}" if query else "")
        return await app_state.llm.passthrough("GET", path, request.headers)
