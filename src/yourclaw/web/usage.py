"""`GET /usage`: the signed-in user's days as the dashboard charts them — messages both ways against the
limits (messaging), the credits left (credits), what the assistant's thinking cost, per day, model and
purpose (llm), its web searches and transcribed voice notes (credits' service usage), and its calls on the
user's Google services (integrations). It lives here, above those packages, because it is the only place
that needs them all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.credits import service_usage
from yourclaw.integrations import repository as integrations_repo
from yourclaw.integrations.services import BY_ROW
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.llm import catalog
from yourclaw.llm import repository as llm_repo
from yourclaw.messaging import views_repository as views_repo
from yourclaw.messaging.inbound import repository as messaging_repo

MAX_DAYS = 90


class DayUsage(msgspec.Struct):
    day: date
    inbound: int
    # WhatsApp messages sent that day, each part of a long text and our notices included (the daily cap).
    outbound: int
    # The assistant's own messages (replies and the ones it wrote first), whole: what "from your assistant"
    # means on the dashboard.
    assistant_messages: int
    proactive: int
    llm_spend_cents: int


class SpendRow(msgspec.Struct):
    """What the assistant's thinking cost one day on one model for one purpose: `reply` (answering you),
    `heartbeat`, `cron` (scheduled jobs), `memory` (keeping its memory), `other`, `unsettled` (calls cut off by
    a failure, charged at their maximum). Own-key calls (`own_key`) are billed by Anthropic, not credits."""

    day: date
    model: str
    model_label: str
    purpose: str
    own_key: bool
    calls: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    millicents: int  # 1/1000 of a cent: a heartbeat costs a fraction of one


class SenseRow(msgspec.Struct):
    """What the assistant's web searches (`search`: `units` are queries) and voice-note transcriptions
    (`transcription`: `units` are seconds of audio) cost one day, charged to the credits."""

    day: date
    service: str
    calls: int
    units: int
    millicents: int


class SenseLimits(msgspec.Struct):
    search_queries_per_day: int
    transcription_minutes_per_day: int


class GoogleCallsRow(msgspec.Struct):
    """Successful tool calls on one connected service one day (UTC): `calendar`, `gmail` or `drive`."""

    day: date
    service: str
    calls: int


class UsageLimits(msgspec.Struct):
    per_minute: int
    per_day: int
    proactive_per_day: int
    google_tool_calls_per_minute: int


class UsageCredits(msgspec.Struct):
    remaining_cents: int
    total_cents: int
    own_key: bool


class UsageOutbound(msgspec.Struct):
    """Today's WhatsApp messages to the user (each part of a long text counts) against the daily cap."""

    parts_today: int
    parts_cap: int
    # Set once the cap held a message back today: when the held messages start going out.
    capped_until: datetime | None


class UsageOut(msgspec.Struct):
    days: list[DayUsage]
    spend: list[SpendRow]
    senses: list[SenseRow]
    sense_limits: SenseLimits
    limits: UsageLimits
    credits: UsageCredits
    outbound: UsageOutbound
    google_calls: list[GoogleCallsRow]


_LABELS = {option.id.removeprefix("anthropic/"): option.label for option in catalog.MODELS}


def _label(model: str) -> str:
    for upstream, label in _LABELS.items():
        if model == upstream or model.startswith(upstream + "-"):
            return label
    return model


class UsageController(Controller):
    path = "/usage"
    tags = ["usage"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def usage(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        days: Annotated[int, QueryParameter(ge=1, le=MAX_DAYS)] = 7,
    ) -> UsageOut:
        window = await messaging_repo.usage_days(db_session, current_user.id, days)
        by_day = {row.day: row for row in window.rows}
        assistant_by_day = await views_repo.assistant_messages_by_day(db_session, current_user.id, window.first)
        series = []
        for offset in range(days):
            day = window.first + timedelta(days=offset)
            row = by_day.get(day)
            series.append(
                DayUsage(
                    day=day,
                    inbound=row.inbound_count if row else 0,
                    outbound=row.outbound_count if row else 0,
                    assistant_messages=assistant_by_day.get(day, 0),
                    proactive=row.proactive_count if row else 0,
                    llm_spend_cents=credits.to_cents(row.llm_millicents) if row else 0,
                )
            )
        spend = [
            SpendRow(
                day=s.day,
                model=s.model,
                model_label=_label(s.model),
                purpose=s.purpose,
                own_key=s.own_key,
                calls=s.calls,
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
                cache_write_tokens=s.cache_write_tokens,
                cache_read_tokens=s.cache_read_tokens,
                millicents=s.millicents,
            )
            for s in await llm_repo.spend_days(db_session, current_user.id, window.first)
        ]
        senses = [
            SenseRow(day=r.day, service=r.service, calls=r.calls, units=r.units, millicents=r.millicents)
            for r in await service_usage.days_since(db_session, current_user.id, window.first)
        ]
        since = datetime.combine(window.first, time(), tzinfo=UTC)
        google_calls = [
            GoogleCallsRow(day=date.fromisoformat(day), service=BY_ROW[service].name, calls=calls)
            for day, service, calls in await integrations_repo.calls_by_day(db_session, current_user.id, since)
        ]
        decision = await credits_repo.spend_decision(db_session, current_user.id)
        current = await credits_repo.balance(db_session, current_user.id)
        today = by_day.get(window.today)
        return UsageOut(
            days=series,
            spend=spend,
            senses=senses,
            sense_limits=SenseLimits(
                search_queries_per_day=settings.search_queries_per_day,
                transcription_minutes_per_day=settings.transcription_minutes_per_day,
            ),
            limits=UsageLimits(
                per_minute=settings.rate_limit_msg_per_min,
                per_day=settings.rate_limit_msg_per_day,
                proactive_per_day=settings.proactive_daily_cap,
                google_tool_calls_per_minute=settings.google_tool_calls_per_minute,
            ),
            credits=UsageCredits(
                remaining_cents=current.remaining_cents, total_cents=current.total_cents, own_key=decision.own_key
            ),
            outbound=UsageOutbound(
                parts_today=today.outbound_count if today else 0,
                parts_cap=settings.outbound_parts_daily_cap,
                capped_until=window.next_day_at if today and today.outbound_capped_at else None,
            ),
            google_calls=google_calls,
        )
