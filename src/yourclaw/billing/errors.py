"""What billing can refuse: checkout and portal before their time, Stripe's webhooks that are unsigned or
malformed, and Stripe itself when it is not set up or not answering."""

from __future__ import annotations

from yourclaw.kit.errors import Conflict, ServiceUnavailable, YourClawError


class PhoneNotVerified(Conflict):
    code = "PHONE_NOT_VERIFIED"


class AlreadySubscribed(Conflict):
    code = "ALREADY_SUBSCRIBED"


class NoBillingAccount(Conflict):
    code = "NO_BILLING_ACCOUNT"


class InvalidStripeSignature(YourClawError):
    code = "INVALID_SIGNATURE"


class InvalidStripePayload(YourClawError):
    code = "INVALID_PAYLOAD"


class StripeUnavailable(ServiceUnavailable):
    code = "STRIPE_UNAVAILABLE"


class StripeNotConfigured(ServiceUnavailable):
    code = "STRIPE_NOT_CONFIGURED"
