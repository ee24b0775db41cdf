"""One mapping from every failure to `{"detail", "code"}`; nothing else reaches a client but the branded error
page a browser's page load gets instead (`web.pages.error_page`).

`answer_for` is the mapping itself, so a failure gets the same answer from a Litestar route and from a bare
ASGI route (`server.bare_routes`); `EXCEPTION_HANDLERS` hands it to Litestar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from yourclaw.kit.errors import YourClawError, answer_by_class
from yourclaw.web import pages

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    body: dict
    headers: dict[str, str] | None = None

    def encoded(self) -> bytes:
        return msgspec.json.encode(self.body)


def _error(status: int, detail: str, code: str, extra: dict | None = None, headers=None) -> ErrorAnswer:
    body = {"detail": detail, "code": code}
    if extra:
        body.update(extra)
    return ErrorAnswer(status, body, headers)


def domain_error(exc: YourClawError) -> ErrorAnswer:
    headers = None if exc.retry_after is None else {"Retry-After": str(max(1, exc.retry_after))}
    return _error(exc.status_code, exc.detail, exc.code, headers=headers)


def validation_error(exc: ValidationException) -> ErrorAnswer:
    # Litestar lists the failing fields in `extra`; keep them, they are the caller's own input.
    errors = exc.extra if isinstance(exc.extra, list) else None
    detail = exc.detail or "Invalid request"
    if errors:
        first = errors[0]
        if isinstance(first, dict) and first.get("message"):
            where = first.get("key") or first.get("source") or "body"
            detail = f"{first['message']} ({where})"
    return _error(422, detail, "VALIDATION_ERROR", {"errors": errors} if errors else None)


def http_error(exc: HTTPException) -> ErrorAnswer:
    status = exc.status_code
    code = _HTTP_CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
    detail = exc.detail if status < 500 else "Internal server error"
    return _error(status, detail, code, headers=exc.headers)


def database_error(exc: Exception) -> ErrorAnswer:
    log.error("database_unavailable", error=type(exc).__name__)
    return _error(503, "The database is unavailable; try again shortly", "DATABASE_UNAVAILABLE")


def overloaded(exc: Exception) -> ErrorAnswer:
    log.warning("database_pool_exhausted")
    return _error(503, "The service is busy; try again shortly", "OVERLOADED", headers={"Retry-After": "2"})


def internal_error(exc: Exception) -> ErrorAnswer:
    log.exception("unhandled_error", error=type(exc).__name__)
    return _error(500, "Internal server error", "INTERNAL_ERROR")


def _is_connection_problem(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def dbapi_error(exc: DBAPIError) -> ErrorAnswer:
    if _is_connection_problem(exc):
        return database_error(exc)
    return internal_error(exc)


_ANSWERS: dict[type[Exception], Callable] = {
    YourClawError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    DBAPIError: dbapi_error,
    PoolTimeout: overloaded,
    OSError: database_error,
    Exception: internal_error,
}


def answer_for(exc: Exception) -> ErrorAnswer:
    return answer_by_class(_ANSWERS, exc)


def _to_response(answer: ErrorAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=MediaType.JSON, headers=answer.headers)


def _litestar_handler(request: Request, exc: Exception) -> Response:
    answer = answer_for(exc)
    # A person who typed an unknown address, or hit a failure while opening a page, sees a page of ours
    # (404 or 5xx); scripts and API clients keep the JSON envelope.
    if (answer.status == 404 or answer.status >= 500) and pages.wants_page(request):
        state = getattr(request.app.state, "app_state", None)
        if state is not None:
            return pages.error_page(answer.status, state.settings)
    return _to_response(answer)


EXCEPTION_HANDLERS = dict.fromkeys(_ANSWERS, _litestar_handler)


def rendered(exc: Exception) -> tuple[int, bytes, dict[str, str] | None]:
    """The answer as a bare route sends it (see `bare_routes`)."""
    answer = answer_for(exc)
    return answer.status, answer.encoded(), answer.headers
