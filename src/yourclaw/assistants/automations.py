"""The reminders and watchers an assistant reports (`PUT /runtime/automations`): the list checked against the
limits, then stored whole for its user. The names are user data: nothing here logs them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.assistants import automations_repository as repo
from yourclaw.assistants.errors import AutomationNameTooLong, DuplicateAutomationId, TooManyAutomations
from yourclaw.assistants.schemas import AutomationsIn, AutomationsStored
from yourclaw.kit.settings import Settings


async def replace(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, data: AutomationsIn
) -> AutomationsStored:
    reported = data.automations
    if len(reported) > settings.automations_max:
        raise TooManyAutomations(f"At most {settings.automations_max} automations can be reported at once")
    longest = settings.automation_name_max_chars
    if any(len(a.name) > longest for a in reported):
        raise AutomationNameTooLong(f"An automation's name is limited to {longest} characters")
    if len({a.id for a in reported}) != len(reported):
        raise DuplicateAutomationId("Each automation id may appear once")
    added, removed = await repo.replace_all(
        session,
        user_id,
        [repo.Automation(a.id, a.name, a.kind, a.next_run_at, a.enabled) for a in reported],
    )
    return AutomationsStored(count=len(reported), added=added, removed=removed)
