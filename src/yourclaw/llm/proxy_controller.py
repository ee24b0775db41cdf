"""The metering proxy's routes, at `{RUNTIME_API_URL}/llm/anthropic` (what an assistant's config names as
its Anthropic base URL). Every failure here answers in Anthropic's error shape, not `{"detail", "code"}`:
the caller is an Anthropic client and must understand it.

`POST /v1/messages`, which every turn of every assistant calls, is a bare route (`server.bare_routes`,
mounted by `server.app`); the calls that cost nothing (token counts, the model list) are a Litestar controller.
"""

from __future__ import annotations

from http import HTTPStatus

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Receive, Scope, Send
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from yourclaw.kit.asgi import cancel_on_disconnect, read_body
from yourclaw.kit.errors import YourClawError, answer_by_class
from yourclaw.llm import call_bounds, purposes
from yourclaw.llm.errors import ProxyError, error_body
from yourclaw.llm.proxy import LlmProxy, Whole

log = structlog.get_logger(__name__)

PROXY_PATH = "/llm/anthropic"
MESSAGES_PATH = PROXY_PATH + "/v1/messages"
# The assistant's background work calls its own route per purpose (`llm.purposes`).
BACKGROUND_PATH = PROXY_PATH + "/bg/{purpose:str}"
# Anthropic accepts requests up to 32 MB (images and documents inline).
MAX_BODY = 32 * 1024 * 1024

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
}

# (status, Anthropic error type, message, extra headers)
_Answer = tuple[int, str, str, dict[str, str] | None]


def _by_status(status: int, message: str) -> _Answer:
    return status, _TYPES.get(status, "api_error"), message, None


def _proxy_error(exc: ProxyError) -> _Answer:
    return exc.status, exc.error_type, exc.message, exc.headers


def _domain_error(exc: YourClawError) -> _Answer:
    return _by_status(exc.status_code, exc.detail if exc.status_code < 500 else "Internal server error")


def _http_error(exc: HTTPException) -> _Answer:
    message = exc.detail if exc.status_code < 500 else "Internal server error"
    return _by_status(exc.status_code, message or HTTPStatus(exc.status_code).phrase)


def _unavailable(exc: Exception) -> _Answer:
    log.warning("llm_proxy_database_unavailable", error=type(exc).__name__)
    return 503, "api_error", "The service is temporarily unavailable", {"retry-after": "2"}


def _internal_error(exc: Exception) -> _Answer:
    log.exception("llm_proxy_error", error=type(exc).__name__)
    return 500, "api_error", "Internal server error", None


_ANSWERS = {
    ProxyError: _proxy_error,
    YourClawError: _domain_error,
    ValidationException: _http_error,
    HTTPException: _http_error,
    DBAPIError: _unavailable,
    PoolTimeout: _unavailable,
    OSError: _unavailable,
    Exception: _internal_error,
}


def rendered(exc: Exception) -> tuple[int, bytes, dict[str, str] | None]:
    """A failure as the bare route sends it."""
    status, error_type, message, headers = answer_by_class(_ANSWERS, exc)
    return status, error_body(error_type, message), headers


def _litestar_handler(_: Request, exc: Exception) -> Response:
    status, body, headers = rendered(exc)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _response(whole: Whole) -> Response:
    return Response(whole.body, status_code=whole.status, media_type=whole.content_type, headers=whole.headers)


class MessagesRoute:
    """Anthropic's Messages API, metered: streaming (SSE) and plain answers. A bare route, built once the
    process's proxy exists (`server.app`); `purpose` None tells it from the request (the main route)."""

    def __init__(self, llm: LlmProxy, purpose: str | None = None) -> None:
        self.llm = llm
        self.purpose = purpose

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            raise ProxyError(405, "invalid_request_error", "Use POST")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        # The caller first: a stranger's 32 MiB is never read, let alone held (`messages` finds it cached).
        if not self.llm.is_warmup(headers):
            await self.llm.caller(headers)
        body = await read_body(receive, MAX_BODY, "The request is larger than Anthropic accepts")
        # A caller gone mid-answer cancels the relay, which closes the upstream request.
        purpose = self.purpose or purposes.of_main_route(body)
        await cancel_on_disconnect(receive, send, lambda tracked: self.llm.messages(headers, body, tracked, purpose))


def messages_routes(llm: LlmProxy) -> dict[str, MessagesRoute]:
    """The Messages call's bare routes by path: the main one, and one per background purpose."""
    routes = {MESSAGES_PATH: MessagesRoute(llm)}
    for purpose in purposes.BACKGROUND:
        routes[f"{PROXY_PATH}/bg/{purpose}/v1/messages"] = MessagesRoute(llm, purpose)
    return routes


# The process's one proxy (its upstream pool and caller cache), provided by the server.
Llm = NamedDependency[LlmProxy]


class LlmProxyController(Controller):
    path = PROXY_PATH
    tags = ["llm-proxy"]
    # Every class the app maps elsewhere, so none of them falls through to the app's JSON shape.
    exception_handlers = dict.fromkeys(_ANSWERS, _litestar_handler)

    @post("/v1/messages/count_tokens", status_code=200, request_max_body_size=MAX_BODY)
    async def count_tokens(self, request: Request, llm: Llm) -> Response:
        await llm.caller(request.headers)  # before the body, as for the Messages call
        body = await request.body()
        # Only a request Anthropic could count goes upstream: anything else is the caller's mistake, a 400
        # here, not a call whose answer (or whose failure) would be relayed as if it were upstream's.
        if call_bounds.read_head(body) is None:
            raise ProxyError(400, "invalid_request_error", "The body is not a JSON object of a Messages request")
        return _response(await llm.passthrough("POST", "/v1/messages/count_tokens", request.headers, body))

    @get("/v1/models")
    async def models(self, request: Request, llm: Llm) -> Response:
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = "/v1/models" + (f"?{query}" if query else "")
        return _response(await llm.passthrough("GET", path, request.headers))


class BackgroundProxyController(LlmProxyController):
    """The same cost-free calls under a background purpose's base URL."""

    path = BACKGROUND_PATH
