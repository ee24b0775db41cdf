"""The shapes of the connected-services API."""

from __future__ import annotations

import msgspec


class AuthUrlOut(msgspec.Struct):
    auth_url: str


class IntegrationOut(msgspec.Struct):
    service: str
    label: str
    can_do: str
    # "not_connected", "connected" or "needs_reconnect"
    status: str
    email: str | None = None
    connected_at: str | None = None


class IntegrationsOut(msgspec.Struct):
    # False when no Google OAuth client is configured: the dashboard says so instead of offering Connect.
    available: bool
    integrations: list[IntegrationOut]
