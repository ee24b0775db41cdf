"""The SQL of the user's data: their exports, everything read into one, and the deletion of the account.

It reads and deletes across every domain's tables on purpose: an export or a deletion that missed a table
would be wrong, so the list of what a user owns is kept in one place (`OWNED`), checked by a test against the
schema (every table with a `user_id` is in it)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db import channels
from yourclaw.db.models import (
    AccountDeletion,
    ApiKey,
    Assistant,
    AssistantAutomation,
    AssistantEvent,
    AssistantToken,
    BackupRestore,
    BillingCustomer,
    CreditLedgerEntry,
    CreditReservation,
    DataExport,
    InboundMessage,
    IntegrationCall,
    LlmSpendDaily,
    Media,
    MemoryRequest,
    Message,
    OAuthState,
    Outbox,
    PhoneAttempts,
    ServiceUsageDaily,
    Subscription,
    UsageDaily,
    User,
    UserCredits,
    UserIntegration,
    UserPhone,
    VolumeBackup,
)

# Every table with a user's rows: deleted with the user (by cascade), and read into the export where the
# export's column says so (None: not exported, e.g. the hashes of tokens, a reservation's bookkeeping).
OWNED: dict[type, str | None] = {
    User: "profile",
    UserPhone: "profile",
    Subscription: "profile",
    BillingCustomer: None,
    UserCredits: "usage",
    CreditLedgerEntry: "usage",
    CreditReservation: None,
    ApiKey: None,
    UserIntegration: "profile",
    OAuthState: None,
    IntegrationCall: "usage",
    Assistant: "profile",
    AssistantEvent: "profile",
    AssistantAutomation: "profile",
    AssistantToken: None,
    Message: "messages",
    InboundMessage: None,  # the conversation is in `messages`; this is the queue's copy
    Outbox: None,
    Media: None,
    UsageDaily: "usage",
    LlmSpendDaily: "usage",
    ServiceUsageDaily: "usage",
    PhoneAttempts: None,
    DataExport: None,
    MemoryRequest: None,  # snapshots of the memory files, which the export carries whole from the volume
    VolumeBackup: None,  # copies of the volume, whose workspace the export carries; removed with the account
    BackupRestore: None,
}
# Columns never exported: secrets (even encrypted), our internal bookkeeping of the fleet.
SECRET_COLUMNS = {
    "access_token_encrypted",
    "refresh_token_encrypted",
    "encrypted_key",
    "token_hash",
    "token_encrypted",
    "workspace_tar",
    "host_server_id",
    "container_id",
    "move_to_host_id",
    "moved_from_host_id",
    "container_spec_hash",
    "config_hash",
    "instance_id",
    "superseded_instance_ids",
}


# --- exports ----------------------------------------------------------------------------------------------


async def latest_export(session: AsyncSession, user_id: uuid.UUID, fresh_for: timedelta) -> DataExport | None:
    """The user's latest export still worth handing out (pending, or finished within `fresh_for`)."""
    return await session.scalar(
        select(DataExport)
        .where(
            DataExport.user_id == user_id,
            (DataExport.finished_at.is_(None)) | (DataExport.finished_at > func.now() - fresh_for),
        )
        .order_by(DataExport.requested_at.desc())
        .limit(1)
    )


async def request_export(session: AsyncSession, user_id: uuid.UUID) -> DataExport:
    row = DataExport(user_id=user_id)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    # The reconciler reads the workspace: wake it.
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))
    return row


async def rows_of(session: AsyncSession, model: type, user_id: uuid.UUID) -> list[dict]:
    column = model.id if model is User else model.user_id
    order = getattr(model, "created_at", None) or getattr(model, "day", None) or column
    rows = (await session.scalars(select(model).where(column == user_id).order_by(order))).all()
    return [
        {c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in SECRET_COLUMNS} for row in rows
    ]


# --- deletion ---------------------------------------------------------------------------------------------


async def subscription_of(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    return await session.scalar(select(Subscription).where(Subscription.user_id == user_id).with_for_update())


async def delete_account(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user row and, by cascade, every row that names them; then what names only their number (messages
    from it before the account existed, answers to it). The tombstone keeps only the id (see AccountDeletion)."""
    phone = await session.scalar(select(UserPhone.phone_e164).where(UserPhone.user_id == user_id))
    await session.execute(
        pg_insert(AccountDeletion)
        .values(user_id=user_id)
        .on_conflict_do_update(
            index_elements=[AccountDeletion.user_id], set_={"deleted_at": func.now(), "fleet_purged_at": None}
        )
    )
    await session.execute(delete(User).where(User.id == user_id))
    if phone is not None:
        await session.execute(
            delete(InboundMessage).where(InboundMessage.user_id.is_(None), InboundMessage.from_phone == phone)
        )
        await session.execute(delete(Outbox).where(Outbox.user_id.is_(None), Outbox.to_phone == phone))
    # The reconciler removes the containers and volumes (`runtime.user_data`): wake it.
    await session.execute(select(func.pg_notify(channels.ASSISTANTS, str(user_id))))
