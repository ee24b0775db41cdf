"""The signed-in user's own messaging views: daily usage with limits and credits, and the conversation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.messaging.errors import UnknownCursor
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.schemas import (
    DayUsage,
    MessageOut,
    MessagesOut,
    UsageCredits,
    UsageLimits,
    UsageOut,
    UsageOutbound,
)

MAX_DAYS = 90
MAX_PAGE = 100


class MessagingViewsController(Controller):
    path = "/"
    tags = ["messaging"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/usage")
    async def usage(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        days: Annotated[int, QueryParameter(ge=1, le=MAX_DAYS)] = 7,
    ) -> UsageOut:
        window = await repo.usage_days(db_session, current_user.id, days)
        by_day = {row.day: row for row in window.rows}
        series = []
        for offset in range(days):
            day = window.first + timedelta(days=offset)
            row = by_day.get(day)
            series.append(
                DayUsage(
                    day=day,
                    inbound=row.inbound_count if row else 0,
                    outbound=row.outbound_count if row else 0,
                    proactive=row.proactive_count if row else 0,
                    llm_spend_cents=credits.to_cents(row.llm_millicents) if row else 0,
                )
            )
        decision = await credits_repo.spend_decision(db_session, current_user.id)
        current = await credits_repo.balance(db_session, current_user.id)
        today = by_day.get(window.today)
        return UsageOut(
            days=series,
            limits=UsageLimits(
                per_minute=settings.rate_limit_msg_per_min,
                per_day=settings.rate_limit_msg_per_day,
                proactive_per_day=settings.proactive_daily_cap,
            ),
            credits=UsageCredits(remaining_cents=current.remaining_cents, own_key=decision.own_key),
            outbound=UsageOutbound(
                parts_today=today.outbound_count if today else 0,
                parts_cap=settings.outbound_parts_daily_cap,
                capped_until=window.next_day_at if today and today.outbound_capped_at else None,
            ),
        )

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
        )
