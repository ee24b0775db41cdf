"""Credits' pure rules: cents for display, the spend rule, what a low balance is, and the out-of-credits
notice key shared with the router."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from yourclaw.credits.ledger import Balance, decide, is_low, to_cents
from yourclaw.credits.notices import no_credits_key
from yourclaw.messaging.inbound import routing

pytestmark = pytest.mark.unit


def test_cents_round_down_for_display():
    assert to_cents(1999) == 1
    assert Balance(total_millicents=1_000_000, used_millicents=1).remaining_cents == 999
    assert Balance(total_millicents=5, used_millicents=9).remaining_millicents == 0


def test_spending_needs_credit_left_or_an_own_key():
    assert decide(own_key=True, current=Balance(0, 0)).allowed
    assert decide(own_key=False, current=Balance(1000, 999)).allowed
    assert not decide(own_key=False, current=Balance(1000, 1000)).allowed
    assert not decide(own_key=False, current=Balance(1000, 5000)).allowed


def test_low_means_some_left_but_at_most_the_percentage():
    assert is_low(Balance(10_000, 8_000), 20)
    assert not is_low(Balance(10_000, 7_999), 20)
    assert not is_low(Balance(10_000, 10_000), 20)
    assert not is_low(Balance(0, 0), 20)


def test_the_out_of_credits_notice_key_is_the_routers():
    user_id = uuid.uuid4()
    at = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    sender = routing.Sender(user_id=user_id, assistant_status="READY", queued_at=[], can_spend=False)
    outcome = routing.decide("hello", at, sender, routing.Limits(per_minute=5, per_day=100), "http://app")
    assert outcome.detail == "NO_CREDITS"
    assert outcome.reply.dedupe_key == no_credits_key(user_id, at)
