"""Pure pieces of billing: Stripe's statuses in ours, entitlement, which subscription an event names in
either API version's shapes, and webhook signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from stripe import WebhookSignature

from yourclaw.billing import status_map as m
from yourclaw.billing import stripe_events
from yourclaw.billing.errors import InvalidStripePayload, InvalidStripeSignature

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("active", "ACTIVE"),
        ("trialing", "ACTIVE"),
        ("past_due", "PAST_DUE"),
        ("unpaid", "PAST_DUE"),
        ("incomplete", "INCOMPLETE"),
        ("paused", "PAUSED"),
        ("canceled", "CANCELED"),
        ("incomplete_expired", "CANCELED"),
    ],
)
def test_status_table(stripe_status, ours):
    assert m.to_ours(stripe_status) == ours


def test_an_unknown_status_is_an_error_not_a_guess():
    with pytest.raises(m.UnknownStripeStatus):
        m.to_ours("something_new")


def test_entitlement():
    assert m.entitled("ACTIVE", None, NOW, WEEK)
    assert m.entitled("PAST_DUE", NOW - timedelta(days=6), NOW, WEEK)
    assert not m.entitled("PAST_DUE", NOW - timedelta(days=8), NOW, WEEK)
    assert m.entitled("PAST_DUE", None, NOW, WEEK)
    for status in ("INCOMPLETE", "PAUSED", "CANCELED", None):
        assert not m.entitled(status, None, NOW, WEEK)


def test_the_subscription_giving_more_service_wins():
    assert m.replaces("CANCELED", "ACTIVE") and m.replaces("PAST_DUE", "ACTIVE")
    assert m.replaces("CANCELED", "INCOMPLETE")
    assert not m.replaces("ACTIVE", "CANCELED") and not m.replaces("ACTIVE", "ACTIVE")


def _event(event_type: str, obj: dict) -> stripe_events.Event:
    return stripe_events.Event(id="evt_1", type=event_type, data=stripe_events._Data(object=obj))


def test_targets_in_both_api_versions_shapes():
    new_invoice = {
        "object": "invoice",
        "customer": "cus_1",
        "parent": {"subscription_details": {"subscription": "sub_1", "metadata": {"user_id": "u"}}},
    }
    old_invoice = {"object": "invoice", "customer": {"id": "cus_1"}, "subscription": "sub_1"}
    assert stripe_events.target(_event("invoice.paid", new_invoice)) == stripe_events.Target("sub_1", "cus_1", "u")
    assert stripe_events.target(_event("invoice.payment_failed", old_invoice)) == stripe_events.Target(
        "sub_1", "cus_1", None
    )
    session = {"object": "checkout.session", "customer": "cus_1", "subscription": "sub_1", "client_reference_id": "u"}
    assert stripe_events.target(_event("checkout.session.completed", session)).user_hint == "u"
    sub = {"object": "subscription", "id": "sub_1", "customer": "cus_1", "metadata": {}}
    assert stripe_events.target(_event("customer.subscription.deleted", sub)).subscription_id == "sub_1"
    # One-off invoices, payment-mode checkouts and other events name no subscription.
    assert stripe_events.target(_event("invoice.paid", {"object": "invoice", "customer": "cus_1"})) is None
    assert stripe_events.target(_event("checkout.session.completed", {"object": "checkout.session"})) is None
    assert stripe_events.target(_event("customer.created", {"object": "customer", "id": "cus_1"})) is None


@pytest.mark.parametrize("parent", ["oops", 7, ["x"], {"subscription_details": "oops"}, {"subscription_details": None}])
def test_an_invoice_whose_parent_is_not_an_object_names_no_hint(parent):
    invoice = {"object": "invoice", "customer": "cus_1", "subscription": "sub_1", "parent": parent}
    assert stripe_events.target(_event("invoice.paid", invoice)) == stripe_events.Target("sub_1", "cus_1", None)
    assert stripe_events.target(_event("invoice.paid", {"object": "invoice", "parent": parent})) is None


def test_period_end_on_the_subscription_or_its_items():
    assert stripe_events.period_end({"current_period_end": 100}) == 100
    assert stripe_events.period_end({"items": {"data": [{"current_period_end": 5}, {"current_period_end": 9}]}}) == 9
    assert stripe_events.period_end({"items": {"data": []}}) is None


def test_verify_checks_signature_before_shape():
    body = msgspec.json.encode({"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})
    header = WebhookSignature.generate_signature_header(body.decode(), "whsec_a")
    assert stripe_events.verify(body, header, "whsec_a").id == "evt_1"
    with pytest.raises(InvalidStripeSignature):
        stripe_events.verify(body, header, "whsec_b")
    with pytest.raises(InvalidStripeSignature):
        stripe_events.verify(body, None, "whsec_a")
    for long in ({"id": "evt_" + "1" * 300, "type": "invoice.paid"}, {"id": "evt_1", "type": "x" * 101}):
        long_body = msgspec.json.encode({**long, "data": {"object": {}}})
        long_header = WebhookSignature.generate_signature_header(long_body.decode(), "whsec_a")
        with pytest.raises(InvalidStripePayload):
            stripe_events.verify(long_body, long_header, "whsec_a")
    old = WebhookSignature.generate_signature_header(body.decode(), "whsec_a", int(NOW.timestamp()) - 10**6)
    with pytest.raises(InvalidStripeSignature):
        stripe_events.verify(body, old, "whsec_a")
