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
from yourclaw.db.models.integrations import IntegrationCall, OAuthState, UserIntegration
from yourclaw.db.models.messaging import InboundMessage, LlmSpendDaily, Media, Message, Outbox, UsageDaily
from yourclaw.db.models.runtime import Assistant, AssistantToken, HostServer
from yourclaw.db.models.users import PhoneAttempts, User, UserPhone

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantToken",
    "BillingCustomer",
    "CreditLedgerEntry",
    "CreditReservation",
    "HostServer",
    "InboundMessage",
    "IntegrationCall",
    "LlmSpendDaily",
    "Media",
    "Message",
    "OAuthState",
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
