"""What the user's own-key API can refuse. (The metering proxy answers its callers in Anthropic's error
shape instead: `proxy.ProxyError`.)"""

from __future__ import annotations

from yourclaw.kit.errors import ServiceUnavailable, Unprocessable


class InvalidApiKey(Unprocessable):
    code = "INVALID_API_KEY"


class ApiKeyRejected(Unprocessable):
    code = "API_KEY_REJECTED"


class ProviderUnavailable(ServiceUnavailable):
    code = "PROVIDER_UNAVAILABLE"
