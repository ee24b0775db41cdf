"""The signed-in user's conversation, as the dashboard shows it (the usage view, which needs credits and the
LLM's spend too, is `web.usage`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.kit.di import DbSession
from yourclaw.messaging import views_repository as views_repo
from yourclaw.messaging.errors import UnknownCursor
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.schemas import MessageOut, MessagesOut

MAX_PAGE = 100


class MessagingViewsController(Controller):
    path = "/"
    tags = ["messaging"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/messages")
    async def messages(
        self,
        db_session: DbSession,
        current_user: CurrentUser,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        before: Annotated[uuid.UUID | None, QueryParameter()] = None,
    ) -> MessagesOut:
        # One more than asked tells whether an older page exists without a count.
        rows = await repo.conversation_page(db_session, current_user.id, limit + 1, before)
        if rows is None:
            raise UnknownCursor("No such message in your conversation")
        page = rows[:limit]
        return MessagesOut(
            messages=[
                MessageOut(
                    id=m.id,
                    direction=m.direction,
                    kind=m.kind,
                    body=m.body,
                    delivery_status=m.delivery_status,
                    created_at=m.created_at,
                )
                for m in page
            ],
            next_before=page[-1].id if len(rows) > limit else None,
            assistant_typing=before is None and await views_repo.assistant_working(db_session, current_user.id),
        )
