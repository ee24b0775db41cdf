"""Billing routes: the signed-in user's checkout, portal and subscription, and Stripe's webhook (signed,
not signed in). Stripe is reached only through the app's gateway, built once per process."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar import get as get_route
from litestar.di import NamedDependency, Provide

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.billing import service
from yourclaw.billing.schemas import CheckoutOut, PortalOut, SubscriptionOut, WebhookReceived
from yourclaw.billing.stripe_client import StripeGateway
from yourclaw.kit import api
from yourclaw.kit.di import DbSession, SecretsDep, SettingsDep

SIGNATURE_HEADER = "stripe-signature"
# Where Stripe is told to send its events.
WEBHOOK_PATH = api.PREFIX + "/webhooks/stripe"

Stripe = NamedDependency[StripeGateway]


class BillingController(Controller):
    tags = ["billing"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @post("/checkout", status_code=200)
    async def checkout(
        self, settings: SettingsDep, stripe: Stripe, db_session: DbSession, current_user: CurrentUser
    ) -> CheckoutOut:
        """A Stripe Checkout page for the $20/month plan. 409 ALREADY_SUBSCRIBED with a paid (or still in
        grace) subscription; 409 PHONE_NOT_VERIFIED before the WhatsApp number is verified."""
        return await service.checkout(db_session, settings, stripe, current_user.id)

    @post("/billing/portal", status_code=200)
    async def portal(
        self, settings: SettingsDep, stripe: Stripe, db_session: DbSession, current_user: CurrentUser
    ) -> PortalOut:
        """Stripe's customer portal: update the card or cancel. 409 NO_BILLING_ACCOUNT before any checkout."""
        return await service.portal(db_session, settings, stripe, current_user.id)

    @get_route("/subscription")
    async def subscription(self, db_session: DbSession, current_user: CurrentUser) -> SubscriptionOut:
        """The subscription's state and this period's credits (status NONE before any subscription)."""
        return await service.view(db_session, current_user.id)


class StripeWebhookController(Controller):
    path = WEBHOOK_PATH.removeprefix(api.PREFIX)
    tags = ["webhooks"]

    @post("/", status_code=200)
    async def receive(
        self, request: Request, settings: SettingsDep, stripe: Stripe, secrets: SecretsDep, db_session: DbSession
    ) -> WebhookReceived:
        """Stripe's events, checked against Stripe-Signature on the raw body. 400 INVALID_SIGNATURE or
        INVALID_PAYLOAD; an event seen before answers 200 and changes nothing."""
        payload = await request.body()
        await service.receive_webhook(
            db_session, settings, stripe, secrets, payload, request.headers.get(SIGNATURE_HEADER)
        )
        return WebhookReceived()
