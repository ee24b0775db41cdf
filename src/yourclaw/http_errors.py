"""One mapping from every failure to `{"detail", "code"}`; nothing else reaches a client."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from yourclaw.errors import YourClawError

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


def _error(status: int, detail: str, code: str, extra: dict | None = None, headers=None) -> Response:
    body = {"detail": detail, "code": code}
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def domain_error(_: Request, exc: YourClawError) -> Response:
    return _error(exc.status_code, exc.detail, exc.code)


def validation_error(_: Request, exc: ValidationException) -> Response:
    # Litestar lists the failing fields in `extra`; keep them, they are the caller's own input.
    errors = exc.extra if isinstance(exc.extra, list) else None
    detail = exc.detail or "Invalid request"
    if errors:
        first = errors[0]
        if isinstance(first, dict) and first.get("message"):
            where = first.get("key") or first.get("source") or "body"
            detail = f"{first['message']} ({where})"
    return _error(422, detail, "VALIDATION_ERROR", {"errors": errors} if errors else None)


def http_error(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    code = _HTTP_CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
    detail = exc.detail if status < 500 else "Internal server error"
    return _error(status, detail, code, headers=exc.headers)


def database_error(_: Request, exc: Exception) -> Response:
    log.error("database_unavailable", error=type(exc).__name__)
    return _error(503, "The database is unavailable; try again shortly", "DATABASE_UNAVAILABLE")


def overloaded(_: Request, exc: Exception) -> Response:
    log.warning("database_pool_exhausted")
    return _error(503, "The service is busy; try again shortly", "OVERLOADED", headers={"Retry-After": "2"})


def internal_error(_: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", error=type(exc).__name__)
    return _error(500, "Internal server error", "INTERNAL_ERROR")


def _is_connection_problem(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def dbapi_error(request: Request, exc: DBAPIError) -> Response:
    if _is_connection_problem(exc):
        return database_error(request, exc)
    return internal_error(request, exc)


EXCEPTION_HANDLERS = {
    YourClawError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    DBAPIError: dbapi_error,
    PoolTimeout: overloaded,
    OSError: database_error,
    Exception: internal_error,
}
