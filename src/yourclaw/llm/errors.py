"""What the user's own-key API can refuse, and `ProxyError`: the metering proxy answers its callers in
Anthropic's error shape instead of `{"detail", "code"}`, since they are Anthropic clients."""

from __future__ import annotations

import msgspec

from yourclaw.kit.errors import ServiceUnavailable, Unprocessable


class ProxyError(Exception):
    """An answer in Anthropic's error shape, which the assistant's Anthropic client understands."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def error_body(error_type: str, message: str) -> bytes:
    return msgspec.json.encode({"type": "error", "error": {"type": error_type, "message": message}})


class InvalidApiKey(Unprocessable):
    code = "INVALID_API_KEY"


class ApiKeyRejected(Unprocessable):
    code = "API_KEY_REJECTED"


class ProviderUnavailable(ServiceUnavailable):
    code = "PROVIDER_UNAVAILABLE"
