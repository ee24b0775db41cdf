"""Every table, imported here so Alembic sees the whole metadata."""

from yourclaw.db.models.billing import (
    ApiKey,
    BillingCustomer,
    CreditLedgerEntry,
    CreditReservation,
    StripeEvent,
    Subscription,
    UserCredits,
)
from yourclaw.db.models.integrations import UserIntegration
from yourclaw.db.models.messaging import InboundMessage, LlmSpendDaily, Media, Message, Outbox, UsageDaily
from yourclaw.db.models.runtime import Assistant, AssistantEvent, AssistantToken, HostServer
from yourclaw.db.models.users import PhoneAttempts, User, UserPhone

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantEvent",
    "AssistantToken",
    "BillingCustomer",
    "CreditLedgerEntry",
    "CreditReservation",
    "HostServer",
    "InboundMessage",
    "LlmSpendDaily",
    "Media",
    "Message",
    "Outbox",
    "PhoneAttempts",
    "StripeEvent",
    "Subscription",
    "UsageDaily",
    "User",
    "UserCredits",
    "UserIntegration",
    "UserPhone",
]
