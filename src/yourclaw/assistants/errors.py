"""What the assistants API can refuse."""

from __future__ import annotations

from yourclaw.kit.errors import NotFound, PaymentRequired, Unprocessable


class SubscriptionRequired(PaymentRequired):
    code = "SUBSCRIPTION_REQUIRED"


class NoAssistant(NotFound):
    code = "NO_ASSISTANT"


class UnknownModel(Unprocessable):
    code = "UNKNOWN_MODEL"
