"""`GET/PATCH /users/me`: the account as the dashboard shows it, gathered from accounts (email, phone,
time zone), billing (the subscription), assistants (the assistant), credits (the balance) and integrations
(whether a Google service is connected). It lives
here, above all of them, because it is the only place that needs all of them at once."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Controller, get, patch
from litestar.di import Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.accounts import repository as accounts_repo
from yourclaw.accounts import service as accounts
from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.accounts.schemas import PhoneOut
from yourclaw.assistants import repository as assistants_repo
from yourclaw.billing import repository as billing_repo
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import Assistant, User
from yourclaw.integrations import repository as integrations_repo
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.runtime import workspace


class SubscriptionSummary(msgspec.Struct):
    status: str
    current_period_end: datetime | None


class WorkspaceSummary(msgspec.Struct):
    """The assistant's volume as its host last reported it. `state`: ok, nearly_full (past
    WORKSPACE_WARN_PERCENT) or full (the assistant cannot save new files)."""

    used_bytes: int
    size_bytes: int
    state: str
    measured_at: datetime | None


class AssistantSummary(msgspec.Struct):
    status: str
    phase: str
    model: str
    workspace: WorkspaceSummary | None = None


def _workspace(assistant: Assistant, settings: Settings) -> WorkspaceSummary | None:
    used, size = assistant.workspace_bytes, assistant.workspace_limit_bytes
    state = workspace.level(used, size, settings.workspace_warn_percent)
    if state is None or used is None or size is None:
        return None
    return WorkspaceSummary(used, size, state, assistant.workspace_measured_at)


class CreditsSummary(msgspec.Struct):
    remaining_cents: int
    total_cents: int
    own_key: bool


class ProfileOut(msgspec.Struct):
    id: uuid.UUID
    email: str | None
    timezone: str | None
    phone: PhoneOut | None
    subscription: SubscriptionSummary | None
    assistant: AssistantSummary | None
    credits: CreditsSummary
    created_at: datetime
    # Whether a Google service is connected (the onboarding checklist's last step); None where connecting
    # is not offered (no Google client set).
    services_connected: bool | None = None


class ProfileUpdate(msgspec.Struct):
    timezone: str | None = None


async def profile(session: AsyncSession, settings: Settings, user: User) -> ProfileOut:
    phone = await accounts_repo.get_phone(session, user.id)
    sub = await billing_repo.get_subscription(session, user.id)
    assistant = await assistants_repo.get(session, user.id)
    decision = await credits_repo.spend_decision(session, user.id)
    current = await credits_repo.balance(session, user.id)
    return ProfileOut(
        id=user.id,
        email=user.email,
        timezone=user.timezone,
        phone=accounts.phone_out(phone, settings) if phone else None,
        subscription=SubscriptionSummary(sub.status, sub.current_period_end) if sub else None,
        assistant=AssistantSummary(assistant.status, assistant.phase, assistant.model, _workspace(assistant, settings))
        if assistant is not None and assistant.wanted
        else None,
        credits=CreditsSummary(
            remaining_cents=current.remaining_cents, total_cents=current.total_cents, own_key=decision.own_key
        ),
        created_at=user.created_at,
        services_connected=bool(await integrations_repo.connected_services(session, user.id))
        if settings.google_connect_enabled
        else None,
    )


class ProfileController(Controller):
    path = "/users/me"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def me(self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser) -> ProfileOut:
        return await profile(db_session, settings, current_user)

    @patch("/")
    async def update_me(
        self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[ProfileUpdate]
    ) -> ProfileOut:
        await accounts_repo.set_timezone(db_session, current_user.id, accounts.validate_timezone(data.timezone))
        await db_session.refresh(current_user)
        return await profile(db_session, settings, current_user)
