"""SQL for the reminders and watchers a user's assistant set up (`assistant_automations`), replaced whole by
each report. Every query is scoped to the user the assistant token names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, literal_column
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import AssistantAutomation, AssistantEvent


@dataclass(frozen=True)
class Automation:
    automation_id: str
    name: str
    kind: str
    next_run_at: datetime | None
    enabled: bool


async def replace_all(session: AsyncSession, user_id: uuid.UUID, automations: Sequence[Automation]) -> tuple[int, int]:
    """Makes the user's rows exactly `automations` (ids unique) and records an `automation_set` event for each
    enabled one whose id is new. Returns (added, removed). Idempotent: the same list again adds, removes and
    records nothing."""
    added = 0
    if automations:
        stmt = insert(AssistantAutomation).values(
            [
                {
                    "user_id": user_id,
                    "automation_id": a.automation_id,
                    "name": a.name,
                    "kind": a.kind,
                    "next_run_at": a.next_run_at,
                    "enabled": a.enabled,
                }
                for a in automations
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[AssistantAutomation.user_id, AssistantAutomation.automation_id],
            set_={
                "name": stmt.excluded.name,
                "kind": stmt.excluded.kind,
                "next_run_at": stmt.excluded.next_run_at,
                "enabled": stmt.excluded.enabled,
                "updated_at": func.now(),
            },
        )
        # xmax is 0 only on a row this statement inserted (an updated row carries this transaction's id): the
        # one way to tell new ids from known ones atomically, even when two reports of the same user race.
        inserted = literal_column("xmax = 0")
        rows = await session.execute(stmt.returning(AssistantAutomation.automation_id, inserted))
        new_ids = {automation_id for automation_id, is_new in rows if is_new}
        added = len(new_ids)
        events = [
            AssistantEvent(
                user_id=user_id,
                kind="automation_set",
                detail=a.name,
                automation_kind=a.kind,
                next_run_at=a.next_run_at,
            )
            for a in automations
            if a.automation_id in new_ids and a.enabled
        ]
        session.add_all(events)
    gone = delete(AssistantAutomation).where(AssistantAutomation.user_id == user_id)
    if automations:
        gone = gone.where(AssistantAutomation.automation_id.not_in([a.automation_id for a in automations]))
    removed = len((await session.execute(gone.returning(AssistantAutomation.automation_id))).all())
    await session.flush()
    return added, removed
