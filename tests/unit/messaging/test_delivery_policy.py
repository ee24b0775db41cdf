"""The delivery policy, table-driven: window, templates, STOP, quiet hours in the user's timezone, cap."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest

from yourclaw.messaging.outbound.delivery_policy import (
    Action,
    Facts,
    QuietHours,
    decide,
    parse_quiet_hours,
    user_zone,
    window_open,
)

pytestmark = pytest.mark.unit

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
QUIET = QuietHours(time(22), time(8))


def facts(**overrides) -> Facts:
    base = Facts(kind="proactive", now=NOON, last_inbound_at=NOON - timedelta(hours=1), quiet_hours=QUIET)
    return dataclasses.replace(base, **overrides)


def test_inside_the_window_text_goes_free_form():
    for kind in ("reply", "proactive", "system"):
        assert decide(facts(kind=kind)).action is Action.SEND_FREEFORM


def test_outside_the_window_the_template_goes():
    for last in (None, NOON - timedelta(hours=24), NOON - timedelta(days=3)):
        for kind in ("reply", "proactive", "system"):
            assert decide(facts(kind=kind, last_inbound_at=last)).action is Action.SEND_TEMPLATE


def test_the_window_closes_a_little_early():
    assert window_open(NOON - timedelta(hours=23, minutes=58), NOON)
    assert not window_open(NOON - timedelta(hours=23, minutes=59, seconds=30), NOON)


def test_after_the_template_the_text_waits_for_the_user_to_write_back():
    held = NOON - timedelta(hours=2)
    waiting = facts(last_inbound_at=NOON - timedelta(days=2), held_since=held, started=True)
    assert decide(waiting).action is Action.WAIT_FOR_REPLY
    wrote_back = dataclasses.replace(waiting, last_inbound_at=NOON - timedelta(minutes=1))
    assert decide(wrote_back).action is Action.SEND_FREEFORM


def test_a_refused_window_takes_the_template_path_once():
    assert decide(facts(window_refused=True)).action is Action.SEND_TEMPLATE
    after = facts(window_refused=True, held_since=NOON, started=True)
    assert decide(after).action is Action.WAIT_FOR_REPLY


def test_stop_drops_proactive_and_silences_templates_but_not_replies_inside_the_window():
    assert decide(facts(opted_out=True)).action is Action.DROP_OPTED_OUT
    assert decide(facts(opted_out=True, last_inbound_at=None)).action is Action.DROP_OPTED_OUT
    for kind in ("reply", "system"):
        assert decide(facts(kind=kind, opted_out=True)).action is Action.SEND_FREEFORM
        outside = facts(kind=kind, opted_out=True, last_inbound_at=None)
        assert decide(outside).action is Action.WAIT_FOR_REPLY


def test_without_a_template_the_text_waits_for_the_user():
    decision = decide(facts(kind="system", last_inbound_at=None, has_template=False))
    assert decision.action is Action.WAIT_FOR_REPLY and "template" in decision.reason


def test_a_number_without_an_account_always_gets_its_reply():
    assert decide(facts(kind="system", has_account=False, last_inbound_at=None)).action is Action.SEND_FREEFORM


@pytest.mark.parametrize(
    ("zone", "local_now", "held_until_local"),
    [
        # 23:30 in New York: held until 08:00 the next morning, New York time.
        ("America/New_York", datetime(2026, 11, 25, 23, 30), datetime(2026, 11, 26, 8, 0)),
        # 03:00 in Tokyo: same night, until 08:00.
        ("Asia/Tokyo", datetime(2026, 11, 26, 3, 0), datetime(2026, 11, 26, 8, 0)),
        # 22:00 sharp is quiet; 07:59 is quiet.
        ("Europe/Paris", datetime(2026, 11, 25, 22, 0), datetime(2026, 11, 26, 8, 0)),
        ("Europe/Paris", datetime(2026, 11, 25, 7, 59), datetime(2026, 11, 25, 8, 0)),
        # Quiet hours end on the morning the clocks change (New York, 2026-03-08 02:00 -> 03:00).
        ("America/New_York", datetime(2026, 3, 7, 23, 0), datetime(2026, 3, 8, 8, 0)),
    ],
)
def test_quiet_hours_hold_proactive_messages_until_morning_in_the_users_timezone(zone, local_now, held_until_local):
    tz = user_zone(zone)
    now = local_now.replace(tzinfo=tz).astimezone(UTC)
    decision = decide(facts(now=now, timezone=zone, last_inbound_at=now - timedelta(hours=1)))
    assert decision.action is Action.HOLD_UNTIL
    assert decision.until == held_until_local.replace(tzinfo=tz).astimezone(UTC)
    assert "quiet" in decision.reason


def test_outside_quiet_hours_and_for_non_proactive_messages_nothing_is_held():
    tz = user_zone("Europe/Paris")
    night = datetime(2026, 11, 25, 23, 0, tzinfo=tz).astimezone(UTC)
    day = datetime(2026, 11, 25, 8, 0, tzinfo=tz).astimezone(UTC)
    assert decide(facts(now=day, timezone="Europe/Paris", last_inbound_at=day)).action is Action.SEND_FREEFORM
    for kind in ("reply", "system"):
        at_night = facts(kind=kind, now=night, timezone="Europe/Paris", last_inbound_at=night)
        assert decide(at_night).action is Action.SEND_FREEFORM


def test_a_message_already_started_is_not_held_overnight():
    tz = user_zone("Europe/Paris")
    night = datetime(2026, 11, 25, 23, 0, tzinfo=tz).astimezone(UTC)
    started = facts(now=night, timezone="Europe/Paris", last_inbound_at=night, started=True, proactive_sent_today=99)
    assert decide(started).action is Action.SEND_FREEFORM


def test_the_daily_cap_holds_until_the_counters_reset_and_then_past_quiet_hours():
    resets = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    capped = facts(proactive_sent_today=20, daily_cap=20, usage_day_ends_at=resets)
    decision = decide(capped)
    # Midnight UTC is quiet in UTC (22:00-08:00): held until 08:00.
    assert decision.action is Action.HOLD_UNTIL and decision.until == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert "cap" in decision.reason and "quiet" in decision.reason
    below = dataclasses.replace(capped, proactive_sent_today=19)
    assert decide(below).action is Action.SEND_FREEFORM
    no_quiet = dataclasses.replace(capped, quiet_hours=None)
    assert decide(no_quiet).until == resets
    # Without the database's day boundary: the next UTC midnight.
    assert decide(dataclasses.replace(no_quiet, usage_day_ends_at=None)).until == resets


def test_the_cap_does_not_hold_replies_or_notices():
    for kind in ("reply", "system"):
        assert decide(facts(kind=kind, proactive_sent_today=500)).action is Action.SEND_FREEFORM


# --- the daily part cap ----------------------------------------------------------------------------

RESETS = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def capped(**overrides) -> Facts:
    return facts(**{"kind": "reply", "part_cap": 10, "usage_day_ends_at": RESETS, "quiet_hours": None, **overrides})


def test_a_message_that_would_go_past_the_part_cap_waits_whole_for_the_next_day():
    assert decide(capped(parts_sent_today=7, parts=3)).action is Action.SEND_FREEFORM
    decision = decide(capped(parts_sent_today=7, parts=4))
    assert (decision.action, decision.until, decision.part_cap) == (Action.HOLD_UNTIL, RESETS, True)
    assert "limit" in decision.reason


def test_once_the_part_cap_held_a_message_later_ones_wait_too_even_small_ones():
    decision = decide(capped(parts_sent_today=2, parts=1, capped_today=True))
    assert decision.action is Action.HOLD_UNTIL and decision.part_cap


def test_the_part_cap_holds_every_kind_but_our_own_notices():
    for kind in ("reply", "proactive"):
        assert decide(capped(kind=kind, parts_sent_today=10)).part_cap
    assert decide(capped(kind="system", parts_sent_today=500, capped_today=True)).action is Action.SEND_FREEFORM


def test_outside_the_window_the_part_cap_counts_the_template_as_one():
    outside = capped(last_inbound_at=None, parts=8, parts_sent_today=9)
    assert decide(outside).action is Action.SEND_TEMPLATE
    assert decide(dataclasses.replace(outside, parts_sent_today=10)).action is Action.HOLD_UNTIL


def test_a_message_that_started_going_out_is_finished_whatever_the_cap():
    assert decide(capped(parts_sent_today=10, parts=5, parts_sent=2, capped_today=True)).action is (
        Action.SEND_FREEFORM
    )


def test_a_message_longer_than_the_whole_cap_goes_alone_on_a_fresh_day():
    assert decide(capped(parts_sent_today=0, parts=13)).action is Action.SEND_FREEFORM
    assert decide(capped(parts_sent_today=1, parts=13)).action is Action.HOLD_UNTIL


def test_a_proactive_message_past_the_part_cap_also_waits_out_quiet_hours_the_next_day():
    decision = decide(capped(kind="proactive", quiet_hours=QUIET, parts_sent_today=10))
    # Midnight UTC is quiet in UTC (22:00-08:00): held until 08:00, and the cap is why it waits at all.
    assert decision.until == datetime(2026, 11, 26, 8, 0, tzinfo=UTC) and decision.part_cap
    assert "limit" in decision.reason and "quiet" in decision.reason


def test_no_part_cap_for_numbers_without_an_account():
    stranger = capped(kind="system", has_account=False, part_cap=None, parts_sent_today=99)
    assert decide(stranger).action is Action.SEND_FREEFORM


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("22:00-08:00", QuietHours(time(22), time(8))),
        (" 13:30 - 14:45 ", QuietHours(time(13, 30), time(14, 45))),
        ("", None),
        ("off", None),
        ("none", None),
        ("08:00-08:00", None),
    ],
)
def test_parse_quiet_hours(raw, expected):
    assert parse_quiet_hours(raw) == expected


@pytest.mark.parametrize("raw", ["22-08", "25:00-08:00", "22:00", "22:00-08:00-09:00", "night"])
def test_malformed_quiet_hours_name_the_setting(raw):
    with pytest.raises(ValueError, match="QUIET_HOURS"):
        parse_quiet_hours(raw)


def test_daytime_quiet_hours_that_do_not_cross_midnight():
    lunch = QuietHours(time(12), time(14))
    assert lunch.until(NOON, UTC) == NOON.replace(hour=14)
    assert lunch.until(NOON.replace(hour=14), UTC) is None
    assert lunch.until(NOON.replace(hour=11, minute=59), UTC) is None


def test_unknown_timezones_fall_back_to_utc():
    assert user_zone("Not/AZone") is UTC
    assert user_zone(None) is UTC
    assert user_zone("../../etc/passwd") is UTC
