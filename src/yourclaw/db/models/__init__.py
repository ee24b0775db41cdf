"""Every table, imported here so Alembic sees the whole metadata."""

from yourclaw.db.models.backups import BackupRestore, VolumeBackup
from yourclaw.db.models.billing import (
    ApiKey,
    BillingCustomer,
    CreditLedgerEntry,
    CreditReservation,
    StripeEvent,
    Subscription,
    UserCredits,
)
from yourclaw.db.models.fleet import Rollout, RolloutMember
from yourclaw.db.models.integrations import IntegrationCall, OAuthState, UserIntegration
from yourclaw.db.models.messaging import (
    EarlyDeliveryStatus,
    InboundMessage,
    LlmSpendDaily,
    Media,
    Message,
    Outbox,
    UsageDaily,
)
from yourclaw.db.models.runtime import Assistant, AssistantAutomation, AssistantEvent, AssistantToken, HostServer
from yourclaw.db.models.services import ServiceUsageDaily
from yourclaw.db.models.userdata import AccountDeletion, DataExport, MemoryRequest
from yourclaw.db.models.users import PhoneAttempts, User, UserPhone

__all__ = [
    "BackupRestore",
    "VolumeBackup",
    "AccountDeletion",
    "DataExport",
    "ApiKey",
    "Assistant",
    "AssistantAutomation",
    "AssistantEvent",
    "AssistantToken",
    "BillingCustomer",
    "CreditLedgerEntry",
    "CreditReservation",
    "HostServer",
    "EarlyDeliveryStatus",
    "InboundMessage",
    "IntegrationCall",
    "LlmSpendDaily",
    "Media",
    "MemoryRequest",
    "Message",
    "OAuthState",
    "Outbox",
    "PhoneAttempts",
    "Rollout",
    "RolloutMember",
    "ServiceUsageDaily",
    "StripeEvent",
    "Subscription",
    "UsageDaily",
    "User",
    "UserCredits",
    "UserIntegration",
    "UserPhone",
]
