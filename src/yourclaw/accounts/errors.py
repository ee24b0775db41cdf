"""What signing in and managing one's number can refuse."""

from __future__ import annotations

from yourclaw.kit.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)


class NotSignedIn(NotAuthenticated):
    code = "NOT_AUTHENTICATED"


class InvalidToken(NotAuthenticated):
    code = "INVALID_TOKEN"


class TokenExpired(NotAuthenticated):
    code = "TOKEN_EXPIRED"


class UnknownSigningKey(NotAuthenticated):
    code = "UNKNOWN_KEY"


class SessionExpired(NotAuthenticated):
    code = "SESSION_EXPIRED"


class TokenRevoked(NotAuthenticated):
    code = "TOKEN_REVOKED"


class AccountDisabled(NotAuthenticated):
    code = "ACCOUNT_DISABLED"


class AuthUnavailable(ServiceUnavailable):
    code = "AUTH_UNAVAILABLE"


class CsrfTokenInvalid(Forbidden):
    code = "CSRF_TOKEN_INVALID"


class CrossSiteRequest(Forbidden):
    code = "CROSS_SITE_REQUEST"


class InvalidEmail(Unprocessable):
    code = "INVALID_EMAIL"


class InvalidPhone(Unprocessable):
    code = "INVALID_PHONE"


class InvalidTimezone(Unprocessable):
    code = "INVALID_TIMEZONE"


class PhoneTaken(Conflict):
    code = "PHONE_TAKEN"


class PhoneAttemptsLimited(TooManyRequests):
    code = "PHONE_ATTEMPTS_LIMITED"


class NoPendingVerification(NotFound):
    code = "NO_PENDING_VERIFICATION"
