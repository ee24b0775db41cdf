"""Stripe webhooks in: the signature checked on the raw body (the stripe SDK's scheme and default
tolerance), the event parsed, and from it only what to re-read. An event's snapshot may be stale or
arrive out of order, so nothing else in it is trusted: the subscription is read again from Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from stripe import SignatureVerificationError, Webhook, WebhookSignature

from yourclaw.billing.errors import InvalidStripePayload, InvalidStripeSignature

# The events that can change a subscription's state; any other is acknowledged and ignored.
HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
    }
)

# The widths of stripe_events.id and .type.
MAX_EVENT_ID = 255
MAX_EVENT_TYPE = 100


class _Data(msgspec.Struct):
    object: dict[str, Any]


class Event(msgspec.Struct):
    id: str
    type: str
    data: _Data


@dataclass(frozen=True)
class Target:
    """What an event points at: the subscription to re-read, and what identifies the user."""

    subscription_id: str
    customer_id: str | None
    user_hint: str | None  # our user id as the object carries it (metadata, client_reference_id)


def verify(payload: bytes, header: str | None, secret: str) -> Event:
    try:
        WebhookSignature.verify_header(payload, header, secret, Webhook.DEFAULT_TOLERANCE)
    except SignatureVerificationError:
        # Which check failed (secret, age, body) is not the caller's to learn.
        raise InvalidStripeSignature("The Stripe-Signature header does not match this body") from None
    except UnicodeDecodeError:
        raise InvalidStripePayload("The body is not UTF-8") from None
    try:
        event = msgspec.json.decode(payload, type=Event)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidStripePayload("The body is not a Stripe event") from None
    if not event.id or not event.type:
        raise InvalidStripePayload("The event has no id or type")
    if len(event.id) > MAX_EVENT_ID or len(event.type) > MAX_EVENT_TYPE:
        raise InvalidStripePayload("The event's id or type is longer than any Stripe sends")
    return event


def object_id(value: Any) -> str | None:
    """An expandable field: an id, or the object itself when expanded."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def _user_hint(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        return metadata["user_id"]
    reference = obj.get("client_reference_id")
    return reference if isinstance(reference, str) else None


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """Newer API versions name the subscription under `parent.subscription_details`; older ones at the top."""
    parent = invoice.get("parent")
    if isinstance(parent, dict):
        details = parent.get("subscription_details")
        if isinstance(details, dict) and (found := object_id(details.get("subscription"))):
            return found
    return object_id(invoice.get("subscription"))


def target(event: Event) -> Target | None:
    """None for an event that names no subscription (a one-off invoice, a payment-mode checkout)."""
    if event.type not in HANDLED:
        return None
    obj = event.data.object
    kind = obj.get("object")
    if kind == "checkout.session":
        subscription_id, hint = object_id(obj.get("subscription")), _user_hint(obj)
    elif kind == "subscription":
        subscription_id, hint = object_id(obj.get("id")), _user_hint(obj)
    elif kind == "invoice":
        subscription_id = invoice_subscription(obj)
        # Any field may be of another type than documented (`"parent": "oops"`, signed all the same).
        parent = obj.get("parent")
        details = parent.get("subscription_details") if isinstance(parent, dict) else None
        hint = _user_hint(details) if isinstance(details, dict) else None
    else:
        return None
    if subscription_id is None:
        return None
    return Target(subscription_id=subscription_id, customer_id=object_id(obj.get("customer")), user_hint=hint)


def period_end(subscription: dict[str, Any]) -> int | None:
    """Unix time the current period ends: on the subscription in older API versions, on its items
    (each may differ; the latest counts) in newer ones."""
    top = subscription.get("current_period_end")
    if isinstance(top, int):
        return top
    items = (subscription.get("items") or {}).get("data") or []
    ends = [item["current_period_end"] for item in items if isinstance(item.get("current_period_end"), int)]
    return max(ends) if ends else None
