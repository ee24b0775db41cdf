"""What the assistants API can refuse."""

from __future__ import annotations

from yourclaw.kit.errors import NotFound, PayloadTooLarge, PaymentRequired, Unprocessable


class SubscriptionRequired(PaymentRequired):
    code = "SUBSCRIPTION_REQUIRED"


class NoAssistant(NotFound):
    code = "NO_ASSISTANT"


class UnknownModel(Unprocessable):
    code = "UNKNOWN_MODEL"


class TooManyAutomations(PayloadTooLarge):
    code = "TOO_MANY_AUTOMATIONS"


class AutomationNameTooLong(Unprocessable):
    code = "AUTOMATION_NAME_TOO_LONG"


class DuplicateAutomationId(Unprocessable):
    code = "DUPLICATE_AUTOMATION_ID"
