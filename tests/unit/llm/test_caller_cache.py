"""The LLM proxy's caller cache: what it serves, what a notification changes, and the races it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from yourclaw.credits.ledger import Balance
from yourclaw.llm.callers import MAX_AGE, CallerCache, CallerRow

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
USER = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER = uuid.UUID("22222222-2222-4222-8222-222222222222")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def row(user: uuid.UUID = USER, *, used: int = 0, key: str | None = None, expires_at=None) -> CallerRow:
    return CallerRow(user, key, Balance(10_000, used), expires_at)


def live(clock: Clock | None = None) -> CallerCache:
    cache = CallerCache(clock or Clock())
    cache.on_connection(True)
    return cache


def test_a_caller_put_after_a_read_is_served_until_something_changes():
    cache = live()
    cache.put("h1", row(), cache.stamp())
    assert cache.get("h1", NOW) == row()
    assert cache.get("h2", NOW) is None


def test_nothing_is_served_or_kept_while_the_notification_connection_is_down():
    cache = CallerCache(Clock())
    cache.put("h1", row(), cache.stamp())
    assert cache.get("h1", NOW) is None
    cache.on_connection(True)
    cache.put("h1", row(), cache.stamp())
    cache.on_connection(False)
    assert cache.get("h1", NOW) is None
    cache.on_connection(True)  # notifications may have been missed meanwhile: it starts from empty
    assert cache.get("h1", NOW) is None and len(cache) == 0


def test_a_balance_notification_updates_every_token_of_its_user_in_place():
    cache = live()
    cache.put("h1", row(), cache.stamp())
    cache.put("h2", row(), cache.stamp())
    cache.on_notification(f"balance {USER} 10000 10000")
    assert cache.get("h1", NOW).balance == Balance(10_000, 10_000)
    assert cache.get("h2", NOW).balance.remaining_millicents == 0


def test_a_change_notification_forgets_the_user_and_only_that_user():
    cache = live()
    cache.put("h1", row(), cache.stamp())
    cache.put("h3", row(OTHER), cache.stamp())
    cache.on_notification(f"changed {USER}")
    assert cache.get("h1", NOW) is None
    assert cache.get("h3", NOW) == row(OTHER)


def test_a_read_that_raced_a_notification_about_its_user_is_not_kept():
    cache = live()
    stamp = cache.stamp()  # the read starts ...
    cache.on_notification(f"changed {USER}")  # ... a revocation commits and is heard ...
    cache.put("h1", row(), stamp)  # ... and the read, maybe from before it, comes back
    assert cache.get("h1", NOW) is None
    # Another user's news does not spoil it.
    stamp = cache.stamp()
    cache.on_notification(f"balance {OTHER} 1 0")
    cache.put("h1", row(), stamp)
    assert cache.get("h1", NOW) == row()


def test_a_read_that_spans_a_reconnection_is_not_kept():
    cache = live()
    stamp = cache.stamp()
    cache.on_connection(False)
    cache.on_connection(True)
    cache.put("h1", row(), stamp)
    assert cache.get("h1", NOW) is None


def test_a_token_being_rotated_out_is_not_served_past_its_expiry():
    cache = live()
    cache.put("h1", row(expires_at=NOW + timedelta(minutes=5)), cache.stamp())
    assert cache.get("h1", NOW + timedelta(minutes=4)) is not None
    assert cache.get("h1", NOW + timedelta(minutes=5)) is None
    assert len(cache) == 0


def test_an_entry_is_read_again_after_max_age_whatever_was_heard():
    clock = Clock()
    cache = live(clock)
    cache.put("h1", row(), cache.stamp())
    clock.now += MAX_AGE - 1
    assert cache.get("h1", NOW) is not None
    clock.now += 2
    assert cache.get("h1", NOW) is None


def test_malformed_notifications_are_ignored():
    cache = live()
    cache.put("h1", row(), cache.stamp())
    for payload in ("", "balance", f"balance {USER}", f"balance {USER} x 1", "changed not-a-uuid", "changed"):
        cache.on_notification(payload)
    assert cache.get("h1", NOW) == row()


def test_heard_of_says_a_notification_about_the_user_arrived():
    cache = live()
    assert not cache.heard_of(USER)
    cache.on_notification(f"changed {USER}")
    assert cache.heard_of(USER) and not cache.heard_of(OTHER)
