"""What to do with the next outbox message for a user, right now: a pure function of the facts.

- WhatsApp's customer-service window: free-form text only within 24 hours of the user's last message;
  outside it an approved template goes once and the text waits for the user to write back.
- Proactive messages (the assistant speaking first) respect quiet hours in the user's timezone and a daily
  cap; both defer the message (`HOLD_UNTIL`), neither drops it. Once a message has started going out
  (a part or its template was sent) it is no longer held by either, so it never breaks off overnight.
- STOP silences proactive messages and templates. Replies and notices still go inside the window, where
  the user has just written to us (the STOP confirmation itself is one).
- A daily cap on the WhatsApp messages a user is sent (each part of a long text, each template), of
  every kind: a message that would go past it waits for the next usage day whole (it never breaks off),
  and once one has waited, so does every later one that day (order). Our own notices are exempt
  (`system`: verification, credits, the cap's own notice): they are few, each goes once by its key,
  and an assistant cannot make one. They still count.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOW = timedelta(hours=24)
# Twilio's clock and ours differ a little: stop free-form text just before the window closes.
WINDOW_MARGIN = timedelta(minutes=1)
_QUIET_PATTERN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


class Action(enum.Enum):
    SEND_FREEFORM = "send_freeform"
    SEND_TEMPLATE = "send_template"
    WAIT_FOR_REPLY = "wait_for_reply"
    HOLD_UNTIL = "hold_until"
    DROP_OPTED_OUT = "drop_opted_out"


@dataclass(frozen=True)
class Decision:
    action: Action
    until: datetime | None = None
    reason: str = ""
    # The daily part cap is (one of) the reasons for HOLD_UNTIL.
    part_cap: bool = False


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def until(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """When quiet hours that contain `moment` end (UTC), or None outside them."""
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            if not (self.start <= now < self.end):
                return None
            end_day = local.date()
        else:  # crosses midnight, e.g. 22:00-08:00
            if self.end <= now < self.start:
                return None
            end_day = local.date() + timedelta(days=1) if now >= self.start else local.date()
        return _local(end_day, self.end, zone)


def _local(day: date, at: time, zone: tzinfo) -> datetime:
    # A wall time skipped by a DST change resolves to the instant just after the gap.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def parse_quiet_hours(raw: str | None) -> QuietHours | None:
    """`"22:00-08:00"`; empty, "off" or "none" (or equal ends) means no quiet hours."""
    text = (raw or "").strip().lower()
    if text in ("", "off", "none"):
        return None
    match = _QUIET_PATTERN.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
    except ValueError:
        raise ValueError(f"QUIET_HOURS: expected HH:MM-HH:MM (e.g. 22:00-08:00), got {raw!r}") from None
    if start == end:
        return None
    return QuietHours(start, end)


def user_zone(name: str | None) -> tzinfo:
    """The user's timezone, UTC when unset or unknown (a bad value must not stop their messages)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    return last_inbound_at is not None and now < last_inbound_at + WINDOW - WINDOW_MARGIN


def next_usage_day(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Facts:
    kind: str  # reply | proactive | system
    now: datetime
    # False for a number with no account yet (sign-up link, a wrong code): it has just written to us.
    has_account: bool = True
    last_inbound_at: datetime | None = None
    opted_out: bool = False
    timezone: str | None = None
    # When the template went out (or the text started waiting without one); None before.
    held_since: datetime | None = None
    # A part or the template already reached the user: the gates for proactive messages are behind it.
    started: bool = False
    proactive_sent_today: int = 0
    daily_cap: int = 20
    # When today's counters end (the database's calendar day); the next UTC midnight when not given.
    usage_day_ends_at: datetime | None = None
    quiet_hours: QuietHours | None = None
    has_template: bool = True
    # Twilio refused free-form text (63016) although our clock said the window was open.
    window_refused: bool = False
    # The daily cap on WhatsApp messages (parts and templates) of every kind; None: no cap.
    part_cap: int | None = None
    parts_sent_today: int = 0
    # The cap already held a message back today: later ones wait behind it.
    capped_today: bool = False
    # This message as free-form text, and how many of those parts already went.
    parts: int = 1
    parts_sent: int = 0


def decide(facts: Facts) -> Decision:
    if not facts.has_account:
        return Decision(Action.SEND_FREEFORM)
    if facts.kind == "proactive" and facts.opted_out:
        return Decision(Action.DROP_OPTED_OUT, reason="the user sent STOP")

    is_open = window_open(facts.last_inbound_at, facts.now) and not facts.window_refused
    user_wrote_since_hold = (
        facts.held_since is not None and facts.last_inbound_at is not None and facts.last_inbound_at > facts.held_since
    )
    if facts.held_since is not None and not user_wrote_since_hold:
        return Decision(Action.WAIT_FOR_REPLY, reason="waiting for the user to write back")

    hold = _hold(facts, parts=facts.parts if is_open else 1)
    if hold is not None:
        return hold

    if is_open:
        return Decision(Action.SEND_FREEFORM)
    if facts.opted_out:
        return Decision(Action.WAIT_FOR_REPLY, reason="outside the 24-hour window and the user sent STOP")
    if not facts.has_template:
        return Decision(Action.WAIT_FOR_REPLY, reason="outside the 24-hour window and no template is configured")
    return Decision(Action.SEND_TEMPLATE)


def over_part_cap(facts: Facts, parts: int) -> bool:
    """Whether sending this message now (as `parts` WhatsApp messages) would go past the day's cap."""
    if facts.part_cap is None or facts.kind == "system" or facts.parts_sent > 0:
        return False
    if facts.capped_today:
        return True
    # A message longer than the whole cap goes alone on a fresh day, or it would wait for ever.
    return facts.parts_sent_today > 0 and facts.parts_sent_today + parts > facts.part_cap


def _hold(facts: Facts, *, parts: int) -> Decision | None:
    day_ends = facts.usage_day_ends_at or next_usage_day(facts.now)
    moment = facts.now
    reasons = []
    capped = over_part_cap(facts, parts)
    if capped:
        moment = day_ends
        reasons.append("daily message limit reached")
    if facts.kind == "proactive" and not facts.started:
        if facts.proactive_sent_today >= facts.daily_cap and not capped:
            moment = day_ends
            reasons.append("proactive daily cap reached")
        if facts.quiet_hours is not None:
            quiet_end = facts.quiet_hours.until(moment, user_zone(facts.timezone))
            if quiet_end is not None:
                moment = quiet_end
                reasons.append("quiet hours")
    if moment == facts.now:
        return None
    return Decision(Action.HOLD_UNTIL, until=moment, reason=" and ".join(reasons), part_cap=capped)
