"""One class per machine code of connected services."""

from __future__ import annotations

from yourclaw.kit.errors import NotFound, ServiceUnavailable, TooManyRequests, YourClawError


class UnknownService(NotFound):
    code = "UNKNOWN_SERVICE"


class GoogleNotConfigured(ServiceUnavailable):
    code = "GOOGLE_NOT_CONFIGURED"


class OAuthStateInvalid(YourClawError):
    code = "OAUTH_STATE_INVALID"


class OAuthStateExpired(YourClawError):
    code = "OAUTH_STATE_EXPIRED"


class OAuthStateUsed(YourClawError):
    code = "OAUTH_STATE_USED"


class OAuthStateOtherUser(YourClawError):
    status_code = 403
    code = "OAUTH_STATE_OTHER_USER"


class OAuthExchangeRefused(YourClawError):
    code = "OAUTH_EXCHANGE_REFUSED"


class GoogleUnavailable(ServiceUnavailable):
    code = "GOOGLE_UNAVAILABLE"


class NotConnected(NotFound):
    code = "SERVICE_NOT_CONNECTED"


class NeedsReconnect(YourClawError):
    status_code = 409
    code = "SERVICE_NEEDS_RECONNECT"


class ToolRateLimited(TooManyRequests):
    code = "TOOL_RATE_LIMITED"
