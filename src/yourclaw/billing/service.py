"""Subscriptions: checkout, the customer portal, the user's view, and Stripe's events applied.

Stateless: takes the session and never commits (the request or the worker step does). Stripe's events
only say *which* subscription changed; its state is read again from Stripe and applied as a whole, so
duplicates and any order of delivery end in the same place: Stripe's truth.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.assistants import service as assistants
from yourclaw.assistants.service import Entitlement
from yourclaw.billing import repository as repo
from yourclaw.billing import stripe_events
from yourclaw.billing.errors import AlreadySubscribed, NoBillingAccount, PhoneNotVerified, StripeNotConfigured
from yourclaw.billing.schemas import CheckoutOut, PortalOut, SubscriptionOut
from yourclaw.billing.status_map import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    PAUSED,
    PERIOD_BILLING_REASONS,
    UnknownStripeStatus,
    entitled,
    in_grace,
    replaces,
    to_ours,
)
from yourclaw.billing.stripe_client import ResourceMissing, StripeGateway
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import Subscription
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.messaging import notices
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp

log = structlog.get_logger(__name__)


def _grace(settings: Settings) -> timedelta:
    return timedelta(days=settings.past_due_grace_days)


# --- the signed-in user's routes -------------------------------------------------------------------


def _is_entitled(subscription: Subscription | None, settings: Settings) -> bool:
    return subscription is not None and entitled(
        subscription.status, subscription.past_due_since, datetime.now(UTC), _grace(settings)
    )


def entitlement(settings: Settings) -> Entitlement:
    """Whether a user's subscription lets them run an assistant (paid, or unpaid but still in grace): the
    answer the assistants API asks for before it provisions one."""

    async def entitled_now(session: AsyncSession, user_id: uuid.UUID) -> bool:
        return _is_entitled(await repo.get_subscription(session, user_id), settings)

    return entitled_now


async def _new_customer(
    session: AsyncSession, gateway: StripeGateway, user_id: uuid.UUID, *, replacing: str | None = None
) -> str:
    email = await repo.user_email(session, user_id)
    customer = await gateway.create_customer(user_id=str(user_id), email=email, replacing=replacing)
    await repo.save_customer(session, user_id, customer["id"], replace=replacing is not None)
    return customer["id"]


async def checkout(
    session: AsyncSession, settings: Settings, gateway: StripeGateway, user_id: uuid.UUID
) -> CheckoutOut:
    if not await repo.has_verified_phone(session, user_id):
        raise PhoneNotVerified("Verify your WhatsApp number first: your assistant lives there")
    # Two clicks at once make one customer, and neither sees the other half-done.
    await repo.lock_user(session, user_id)
    current = await repo.get_subscription(session, user_id)
    if _is_entitled(current, settings):
        raise AlreadySubscribed("You already have a subscription; manage it from the billing portal")
    customer_id = await repo.customer_of(session, user_id) or await _new_customer(session, gateway, user_id)
    app_url = settings.app_url.rstrip("/")
    urls = {
        "success_url": f"{app_url}/dashboard?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{app_url}/dashboard?checkout=canceled",
    }
    try:
        created = await gateway.create_checkout_session(customer_id=customer_id, user_id=str(user_id), **urls)
    except ResourceMissing:
        # Stripe lost the customer we kept (deleted in its dashboard): start a new one for this user.
        log.warning("stripe_customer_missing", user_id=str(user_id))
        customer_id = await _new_customer(session, gateway, user_id, replacing=customer_id)
        created = await gateway.create_checkout_session(customer_id=customer_id, user_id=str(user_id), **urls)
    return CheckoutOut(checkout_url=created["url"])


async def portal(session: AsyncSession, settings: Settings, gateway: StripeGateway, user_id: uuid.UUID) -> PortalOut:
    customer_id = await repo.customer_of(session, user_id)
    if customer_id is None:
        raise NoBillingAccount("You have no billing account yet; subscribe first")
    try:
        created = await gateway.create_portal_session(
            customer_id=customer_id, return_url=f"{settings.app_url.rstrip('/')}/dashboard"
        )
    except ResourceMissing:
        raise NoBillingAccount("Your billing account is gone; subscribe again") from None
    return PortalOut(portal_url=created["url"])


async def view(session: AsyncSession, user_id: uuid.UUID) -> SubscriptionOut:
    subscription = await repo.get_subscription(session, user_id)
    balance = await credits_repo.balance(session, user_id)
    return SubscriptionOut(
        status=subscription.status if subscription else "NONE",  # type: ignore[arg-type]
        current_period_end=subscription.current_period_end if subscription else None,
        cancel_at_period_end=subscription.cancel_at_period_end if subscription else False,
        credits_remaining_cents=balance.remaining_cents,
        credits_total_cents=balance.total_cents,
        byok_active=await credits_repo.has_own_key(session, user_id),
    )


# --- Stripe's webhooks ------------------------------------------------------------------------------


async def receive_webhook(
    session: AsyncSession,
    settings: Settings,
    gateway: StripeGateway,
    secrets: SecretBox,
    payload: bytes,
    signature: str | None,
) -> None:
    if not settings.stripe_webhook_secret:
        raise StripeNotConfigured("Stripe webhooks are not set up on this server (STRIPE_WEBHOOK_SECRET is missing)")
    event = stripe_events.verify(payload, signature, settings.stripe_webhook_secret)
    bound = log.bind(stripe_event=event.id, stripe_event_type=event.type)
    if not await repo.record_event(session, event.id, event.type):
        bound.info("stripe_event_replayed")
        return
    target = stripe_events.target(event)
    if target is None:
        bound.info("stripe_event_ignored")
        return
    await repo.lock_customer(session, target.customer_id or target.subscription_id)
    try:
        subscription = await gateway.retrieve_subscription(target.subscription_id)
    except ResourceMissing:
        bound.warning("stripe_event_for_unknown_subscription")
        return
    user_id = await _owner(session, subscription, target)
    if user_id is None:
        bound.warning("stripe_subscription_without_user", stripe_subscription=target.subscription_id)
        return
    await apply_subscription(session, settings, secrets, user_id, subscription)
    bound.info("stripe_event_applied", user_id=str(user_id))


async def _owner(session: AsyncSession, subscription: dict[str, Any], target: stripe_events.Target) -> uuid.UUID | None:
    """Whose subscription: the user whose customer it is; else the user id our checkout put on it."""
    customer_id = stripe_events.object_id(subscription.get("customer")) or target.customer_id
    if customer_id and (owner := await repo.owner_of_customer(session, customer_id)):
        return owner
    metadata = subscription.get("metadata") or {}
    for hint in (metadata.get("user_id"), target.user_hint):
        try:
            user_id = uuid.UUID(str(hint))
        except ValueError:
            continue
        if await repo.user_exists(session, user_id):
            if customer_id:
                await repo.save_customer(session, user_id, customer_id, replace=False)
            return user_id
    return None


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


async def apply_subscription(
    session: AsyncSession, settings: Settings, secrets: SecretBox, user_id: uuid.UUID, stripe_sub: dict[str, Any]
) -> Subscription | None:
    """Make our row say what Stripe says, then act on the state it is in (not on how it got there)."""
    try:
        status = to_ours(stripe_sub.get("status") or "")
    except UnknownStripeStatus:
        log.error("stripe_status_unknown", status=stripe_sub.get("status"), user_id=str(user_id))
        return None
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "stripe_customer_id": stripe_events.object_id(stripe_sub.get("customer")) or "",
        "status": status,
        "current_period_end": _timestamp(stripe_events.period_end(stripe_sub)),
        "cancel_at_period_end": bool(stripe_sub.get("cancel_at_period_end")),
    }
    stored = await repo.lock_subscription(session, user_id)
    if stored is None:
        row = await repo.insert_subscription(
            session,
            user_id,
            stripe_subscription_id=stripe_sub["id"],
            past_due_since=now if status == PAST_DUE else None,
            **values,
        )
    elif stored.stripe_subscription_id != stripe_sub["id"]:
        if not replaces(stored.status, status):
            # A late word about an older subscription, or a second one that gives less: ours stands.
            log.info("stripe_subscription_superseded", user_id=str(user_id), stripe_subscription=stripe_sub["id"])
            return stored
        row = await repo.update_subscription(
            session,
            user_id,
            stripe_subscription_id=stripe_sub["id"],
            activated_at=None,
            suspended_at=stored.suspended_at,
            past_due_since=now if status == PAST_DUE else None,
            **values,
        )
    else:
        since = (stored.past_due_since or now) if status == PAST_DUE else None
        row = await repo.update_subscription(session, user_id, past_due_since=since, **values)
    return await _act(session, settings, secrets, row, stripe_sub, now)


async def _act(
    session: AsyncSession,
    settings: Settings,
    secrets: SecretBox,
    row: Subscription,
    stripe_sub: dict[str, Any],
    now: datetime,
) -> Subscription:
    user_id = row.user_id
    if row.status == ACTIVE:
        await _grant_period_credits(session, settings, user_id, stripe_sub.get("latest_invoice"))
        if row.activated_at is None or row.suspended_at is not None:
            # First payment (or paid again after billing stopped it): provisioning starts with no click.
            await assistants.want(session, secrets, user_id)
            row = await repo.update_subscription(
                session, user_id, activated_at=row.activated_at or now, suspended_at=None
            )
    elif row.status == PAST_DUE:
        invoice_id = stripe_events.object_id(stripe_sub.get("latest_invoice"))
        await enqueue_whatsapp(
            session,
            user_id,
            notices.payment_failed(settings.app_url, settings.past_due_grace_days),
            "system",
            dedupe_key=f"past_due:{row.stripe_subscription_id}:{invoice_id or row.current_period_end}",
        )
        if not in_grace(row.past_due_since, now, _grace(settings)):
            row = await suspend(session, row, now)
    elif row.status in (CANCELED, PAUSED):
        row = await suspend(session, row, now)
    return row


async def _grant_period_credits(session: AsyncSession, settings: Settings, user_id: uuid.UUID, invoice: Any) -> None:
    """The period's credits, once per paid invoice that opens a period: its id is the ledger's reference."""
    if not isinstance(invoice, dict) or settings.signup_credit_cents <= 0:
        return
    if invoice.get("status") != "paid" or invoice.get("billing_reason") not in PERIOD_BILLING_REASONS:
        return
    allowance = settings.signup_credit_cents * credits.MILLICENTS_PER_CENT
    if await credits_repo.reset_period(session, user_id, allowance, reference=f"invoice:{invoice['id']}"):
        log.info("period_credits_granted", user_id=str(user_id), cents=settings.signup_credit_cents)


async def suspend(session: AsyncSession, row: Subscription, now: datetime) -> Subscription:
    """Billing no longer pays for the assistant: it is no longer wanted (the reconciler stops it, the
    volume is kept) and its tokens die now."""
    if row.suspended_at is not None:
        return row
    await assistants.delete(session, row.user_id)
    log.info("assistant_suspended_by_billing", user_id=str(row.user_id), status=row.status)
    return await repo.update_subscription(session, row.user_id, suspended_at=now)


async def suspend_lapsed(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    """Stop the assistants whose unpaid grace period has run out; returns how many."""
    now = now or datetime.now(UTC)
    rows = await repo.lock_lapsed(session, now - _grace(settings))
    for row in rows:
        await suspend(session, row, now)
    return len(rows)
