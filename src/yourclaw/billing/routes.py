"""The routes of billing: checkout, the customer portal, the subscription, and Stripe's webhook."""

from __future__ import annotations

from yourclaw.billing.controller import BillingController, StripeWebhookController

HANDLERS: list = [BillingController, StripeWebhookController]
