"""`GET /activity`: what the user's assistant has been doing, newest first, for a dashboard without the
simulator (production): the messages it wrote on its own and our notices about it (ready, credits)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.kit.di import DbSession
from yourclaw.messaging import views_repository as views_repo

MAX_ITEMS = 50
# How much of a message the list shows: enough to recognise it, not the whole conversation again.
PREVIEW_CHARS = 140


class ActivityItem(msgspec.Struct):
    at: datetime
    # "proactive" (the assistant wrote first: a reminder, an alert), "ready", "credits_low",
    # "credits_used_up", "credits_none"
    kind: str
    # The outbox's status: SENT, or PENDING / HELD while quiet hours or a cap hold it back.
    status: str
    preview: str


class ActivityOut(msgspec.Struct):
    items: list[ActivityItem]


def _preview(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


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
        return ActivityOut(items=[ActivityItem(r.at, r.kind, r.status, _preview(r.body)) for r in rows])
