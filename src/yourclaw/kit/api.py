"""Where the public JSON API lives. Every URL we hand to someone else (Twilio's webhooks and status
callbacks, Stripe's webhook, signed media links) is built on this prefix, so each path is written once."""

from __future__ import annotations

PREFIX = "/api/v1"
