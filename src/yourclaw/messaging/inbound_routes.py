"""Routes of the inbound side: Twilio's webhooks and the dashboard's conversation and usage views."""

from __future__ import annotations

HANDLERS: list = []
