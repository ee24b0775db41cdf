"""What the sender knows before it sends: the facts the delivery policy decides on (the 24-hour window,
quiet hours, the proactive cap, the daily part cap), and holding a message at the part cap, with the one
notice a day that tells the user what happened and when their assistant's messages resume."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from yourclaw.kit.settings import Settings
from yourclaw.messaging import notices
from yourclaw.messaging.outbound import repository as repo
from yourclaw.messaging.outbound.delivery_policy import Decision, Facts, QuietHours, user_zone
from yourclaw.messaging.outbound.repository import Head, Recipient


def facts_for(
    settings: Settings,
    quiet_hours: QuietHours | None,
    recipient: Recipient,
    head: Head,
    *,
    parts: int,
    window_refused: bool = False,
) -> Facts:
    return Facts(
        kind=head.kind,
        now=head.now,
        has_account=recipient.user_id is not None,
        last_inbound_at=head.last_inbound_at,
        opted_out=head.opted_out_at is not None,
        timezone=head.timezone,
        held_since=head.held_since,
        started=head.parts_sent > 0 or head.held_since is not None,
        proactive_sent_today=head.proactive_today,
        daily_cap=settings.proactive_daily_cap,
        quiet_hours=quiet_hours,
        usage_day_ends_at=head.usage_day_ends_at,
        has_template=bool(head.template or settings.twilio_template_content_sid),
        window_refused=window_refused,
        part_cap=settings.outbound_parts_daily_cap if recipient.user_id is not None else None,
        parts_sent_today=head.parts_today,
        capped_today=head.capped_today,
        parts=parts,
        parts_sent=head.parts_sent,
    )


def part_cap_notice_key(head: Head) -> str:
    return f"outbound-cap:{head.today.isoformat()}"


async def hold(conn: AsyncConnection, settings: Settings, head: Head, decision: Decision) -> None:
    """HOLD_UNTIL: deferred to `decision.until`; when the part cap is why, the day is marked capped and
    the user hears of it once."""
    assert decision.until is not None
    if not decision.part_cap or head.user_id is None:
        await repo.hold_until(conn, head.id, decision.until, decision.reason)
        return
    cap = settings.outbound_parts_daily_cap
    await repo.hold_at_part_cap(
        conn,
        head.id,
        head.user_id,
        decision.until,
        decision.reason,
        notice=notices.outbound_capped(cap, head.usage_day_ends_at, user_zone(head.timezone)),
        notice_key=part_cap_notice_key(head),
    )
