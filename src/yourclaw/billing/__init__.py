"""Stripe: checkout, the customer portal, webhooks applied by re-reading the subscription, entitlement, and
the unpaid grace period."""
