"""Domain errors: each carries an HTTP status and a machine code, mapped once to {"detail", "code"}."""

from __future__ import annotations


class YourClawError(Exception):
    status_code: int = 400
    code: str = "BAD_REQUEST"

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class NotAuthenticated(YourClawError):
    status_code = 401
    code = "NOT_AUTHENTICATED"


class Forbidden(YourClawError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(YourClawError):
    status_code = 404
    code = "NOT_FOUND"


class Conflict(YourClawError):
    status_code = 409
    code = "CONFLICT"


class Unprocessable(YourClawError):
    status_code = 422
    code = "VALIDATION_ERROR"


class PaymentRequired(YourClawError):
    status_code = 402
    code = "PAYMENT_REQUIRED"


class ServiceUnavailable(YourClawError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
