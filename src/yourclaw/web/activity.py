"""`GET /activity`: what the user's assistant has been doing, newest first, for a dashboard without the
simulator (production): the messages it wrote on its own, our notices about it (ready, credits), the
changes made to it (its model), and the reminders and watchers it set up (as its plugin reported them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.assistants import repository as assistants_repo
from yourclaw.db.models import AssistantEvent
from yourclaw.kit.di import DbSession
from yourclaw.llm import catalog
from yourclaw.messaging import views_repository as views_repo

MAX_ITEMS = 50
# How much of a message the list shows: enough to recognise it, not the whole conversation again.
PREVIEW_CHARS = 140


class ActivityItem(msgspec.Struct):
    at: datetime
    # "proactive" (the assistant wrote first: a reminder, an alert), "ready", "credits_low",
    # "credits_used_up", "credits_none", "model_changed", "automation_set" (a reminder or watcher set up)
    kind: str
    # A message's outbox status: SENT, or PENDING / HELD while quiet hours or a cap hold it back; "DONE"
    # for a change.
    status: str
    preview: str
    # automation_set: "one_time", "recurring" or "watcher", and when it was due to run next as it was set.
    automation_kind: str | None = None
    next_run_at: datetime | None = None


class ActivityOut(msgspec.Struct):
    items: list[ActivityItem]


def _model_label(model: str) -> str:
    return next((m.label for m in catalog.MODELS if m.id == model), model)


def _preview(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


def _event_item(event: AssistantEvent) -> ActivityItem:
    if event.kind == "automation_set":
        # The automation's name, as the assistant wrote it.
        return ActivityItem(
            event.created_at, event.kind, "DONE", _preview(event.detail or ""), event.automation_kind, event.next_run_at
        )
    return ActivityItem(event.created_at, event.kind, "DONE", _model_label(event.detail or ""))


class ActivityController(Controller):
    path = "/activity"
    tags = ["usage"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def activity(
        self,
        db_session: DbSession,
        current_user: CurrentUser,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ITEMS)] = 10,
    ) -> ActivityOut:
        rows = await views_repo.recent_activity(db_session, current_user.id, limit)
        items = [ActivityItem(r.at, r.kind, r.status, _preview(r.body)) for r in rows]
        for event in await assistants_repo.recent_events(db_session, current_user.id, limit):
            items.append(_event_item(event))
        items.sort(key=lambda item: item.at, reverse=True)
        return ActivityOut(items=items[:limit])
