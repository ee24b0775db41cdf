"""The MCP server's assistant-token owners: what it serves, what a notification changes, the races it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from yourclaw.integrations.callers import MAX_AGE, TokenOwners

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
USER = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER = uuid.UUID("22222222-2222-4222-8222-222222222222")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def live(clock: Clock | None = None) -> TokenOwners:
    owners = TokenOwners(clock or Clock())
    owners.on_connection(True)
    return owners


def test_an_owner_is_served_until_their_tokens_change():
    owners = live()
    owners.put("h1", USER, None, owners.stamp())
    owners.put("h2", OTHER, None, owners.stamp())
    assert owners.get("h1", NOW) == USER
    owners.on_notification(f"balance {USER} 5000 0")  # credits say nothing about tokens
    assert owners.get("h1", NOW) == USER
    owners.on_notification(f"changed {USER}")  # revoked, rotated or deleted
    assert owners.get("h1", NOW) is None
    assert owners.get("h2", NOW) == OTHER


def test_a_read_that_raced_a_change_is_not_kept():
    owners = live()
    stamp = owners.stamp()
    owners.on_notification(f"changed {USER}")
    owners.put("h1", USER, None, stamp)
    assert owners.get("h1", NOW) is None
    owners.put("h2", OTHER, None, stamp)  # another user's read is unaffected
    assert owners.get("h2", NOW) == OTHER


def test_nothing_is_served_without_the_notification_connection_and_a_reconnection_starts_empty():
    owners = TokenOwners()
    owners.put("h1", USER, None, owners.stamp())
    assert owners.get("h1", NOW) is None
    owners.on_connection(True)
    owners.put("h1", USER, None, owners.stamp())
    owners.on_connection(False)
    owners.on_connection(True)
    assert owners.get("h1", NOW) is None


def test_an_entry_goes_with_its_tokens_expiry_or_its_age():
    clock = Clock()
    owners = live(clock)
    owners.put("rotating", USER, NOW + timedelta(seconds=5), owners.stamp())
    owners.put("current", OTHER, None, owners.stamp())
    assert owners.get("rotating", NOW) == USER
    assert owners.get("rotating", NOW + timedelta(seconds=5)) is None
    clock.now += MAX_AGE + 1
    assert owners.get("current", NOW) is None


def test_a_bad_notification_is_ignored():
    owners = live()
    owners.put("h1", USER, None, owners.stamp())
    owners.on_notification("changed not-a-uuid")
    assert owners.get("h1", NOW) == USER
