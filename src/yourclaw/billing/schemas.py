"""What the billing routes answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

SubscriptionStatus = Literal["NONE", "ACTIVE", "PAST_DUE", "INCOMPLETE", "PAUSED", "CANCELED"]


class CheckoutOut(msgspec.Struct):
    """Send the browser here: Stripe's hosted checkout page."""

    checkout_url: str


class PortalOut(msgspec.Struct):
    """Send the browser here: Stripe's customer portal (update the card, cancel)."""

    portal_url: str


class SubscriptionOut(msgspec.Struct):
    status: SubscriptionStatus
    current_period_end: datetime | None
    cancel_at_period_end: bool
    # Shared-key LLM credit left this period and the period's allowance, in cents.
    credits_remaining_cents: int
    credits_total_cents: int
    # The user's own Anthropic key is set: LLM calls are not charged to the credits.
    byok_active: bool


class WebhookReceived(msgspec.Struct):
    received: bool = True
