"""The base of every error a client may see: each class carries an HTTP status and a machine code, mapped
once to `{"detail", "code"}` (`server.errors`). Domains subclass these in their own `errors.py`, one class
per code, so a code is written once and a raise site says only what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class YourClawError(Exception):
    status_code: int = 400
    code: str = "BAD_REQUEST"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # Seconds until trying again can succeed (a limit's window): sent as Retry-After.
        self.retry_after = retry_after


class MalformedJson(YourClawError):
    code = "MALFORMED_JSON"


class NotAuthenticated(YourClawError):
    status_code = 401
    code = "NOT_AUTHENTICATED"


class PaymentRequired(YourClawError):
    status_code = 402
    code = "PAYMENT_REQUIRED"


class Forbidden(YourClawError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(YourClawError):
    status_code = 404
    code = "NOT_FOUND"


class MethodNotAllowed(YourClawError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(YourClawError):
    status_code = 409
    code = "CONFLICT"


class PayloadTooLarge(YourClawError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class BodyTooLarge(PayloadTooLarge):
    code = "BODY_TOO_LARGE"


class UnsupportedMediaType(YourClawError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class Unprocessable(YourClawError):
    status_code = 422
    code = "VALIDATION_ERROR"


class NulCharacter(Unprocessable):
    code = "NUL_CHARACTER"


class TooManyRequests(YourClawError):
    status_code = 429
    code = "RATE_LIMITED"


class ServiceUnavailable(YourClawError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


def answer_by_class(answers: dict[type[Exception], Callable[[Any], Any]], exc: Exception) -> Any:
    """The answer of the most specific class `exc` is an instance of, as Litestar chooses its handler."""
    for cls in type(exc).__mro__:
        answer = answers.get(cls)
        if answer is not None:
            return answer(exc)
    raise exc
