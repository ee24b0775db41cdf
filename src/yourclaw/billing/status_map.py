"""Stripe's subscription statuses in our terms, and what each of ours entitles a user to. The one place
that says so: the webhook, the checkout guard and the assistants API all ask here."""

from __future__ import annotations

from datetime import datetime, timedelta

ACTIVE = "ACTIVE"
PAST_DUE = "PAST_DUE"
INCOMPLETE = "INCOMPLETE"
PAUSED = "PAUSED"
CANCELED = "CANCELED"

STRIPE_TO_OURS = {
    "active": ACTIVE,
    "trialing": ACTIVE,
    "past_due": PAST_DUE,
    "unpaid": PAST_DUE,
    "incomplete": INCOMPLETE,
    "paused": PAUSED,
    "canceled": CANCELED,
    "incomplete_expired": CANCELED,
}

# When two subscriptions of one user disagree (a late event of an old, ended one; a second checkout
# after a lapse), the one that gives more service is the one we keep.
_RANK = {ACTIVE: 4, PAST_DUE: 3, PAUSED: 2, INCOMPLETE: 1, CANCELED: 0}

# Invoices that start a billing period; only these reset the period's credits (not a one-off invoice).
PERIOD_BILLING_REASONS = frozenset({"subscription_create", "subscription_cycle"})


class UnknownStripeStatus(ValueError):
    pass


def to_ours(stripe_status: str) -> str:
    try:
        return STRIPE_TO_OURS[stripe_status]
    except KeyError:
        raise UnknownStripeStatus(f"unknown Stripe subscription status {stripe_status!r}") from None


def replaces(stored: str, incoming: str) -> bool:
    """Whether another subscription of the same user, now `incoming`, takes the place of the `stored` one."""
    return _RANK[incoming] > _RANK[stored]


def in_grace(past_due_since: datetime | None, now: datetime, grace: timedelta) -> bool:
    # A PAST_DUE row without a start (written before this was tracked) counts from now: grace, not a cut-off.
    return past_due_since is None or now - past_due_since < grace


def entitled(status: str | None, past_due_since: datetime | None, now: datetime, grace: timedelta) -> bool:
    """Paid up, or unpaid but still within the grace period: the assistant may run and a second
    subscription would be a double charge."""
    if status == ACTIVE:
        return True
    return status == PAST_DUE and in_grace(past_due_since, now, grace)
