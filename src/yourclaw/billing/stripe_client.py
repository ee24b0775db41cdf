"""The few Stripe calls we make, through the stripe SDK: Stripe itself in production, or the address in
STRIPE_API_BASE_URL (the local stand-in in tests and `yourclaw dev`). Either way the same SDK code builds
every request and parses every answer; callers get plain dicts in Stripe's shapes."""

from __future__ import annotations

from typing import Any

import stripe
import structlog

from yourclaw.billing.errors import StripeNotConfigured, StripeUnavailable
from yourclaw.kit.settings import Settings

log = structlog.get_logger(__name__)

# A checkout click waits on these calls; past this the user is better told to try again.
REQUEST_TIMEOUT = 20.0
# POSTs carry an idempotency key (the SDK adds one), so a retried create never makes two objects.
MAX_NETWORK_RETRIES = 2


class ResourceMissing(Exception):
    """Stripe does not know an object we named: a customer deleted in the dashboard, an event from
    another account or mode. `param` says which (Stripe's own error field)."""

    def __init__(self, param: str | None) -> None:
        super().__init__(f"Stripe has no such object ({param})")
        self.param = param


class _HttpxClient(stripe.HTTPXClient):
    """The SDK's httpx client, handing its form-encoded body to httpx as `content` (as `data`, a string
    body is deprecated in httpx and warns on every call)."""

    def _get_request_args_kwargs(self, method, url, headers, post_data):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(post_data, str | bytes):
            kwargs["content"] = kwargs.pop("data")
        else:
            kwargs.pop("data", None)
        return args, kwargs


def _plain(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        self.price_id = settings.stripe_price_id
        self._portal_configuration: str | None = settings.stripe_portal_configuration
        self._client: stripe.StripeClient | None = None
        self._http: _HttpxClient | None = None
        if settings.stripe_secret_key:
            self._http = _HttpxClient(timeout=REQUEST_TIMEOUT)
            base = {"api": settings.stripe_api_base_url.rstrip("/")} if settings.stripe_api_base_url else None
            self._client = stripe.StripeClient(
                settings.stripe_secret_key,
                base_addresses=base,
                http_client=self._http,
                max_network_retries=MAX_NETWORK_RETRIES,
            )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise StripeNotConfigured("Payments are not set up on this server (STRIPE_SECRET_KEY is missing)")
        return self._client

    async def _call(self, what: str, coro) -> dict:
        try:
            return _plain(await coro)
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                raise ResourceMissing(exc.param) from None
            log.error("stripe_request_refused", call=what, status=exc.http_status, code=exc.code)
            raise StripeUnavailable("Payments are unavailable right now; try again shortly") from None
        except stripe.StripeError as exc:
            # The message may quote our request; the error's class and status are enough for operators.
            log.error("stripe_unavailable", call=what, error=type(exc).__name__, status=exc.http_status)
            raise StripeUnavailable("Payments are unavailable right now; try again shortly") from None

    async def create_customer(self, *, user_id: str, email: str | None, replacing: str | None = None) -> dict:
        params: dict[str, Any] = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        # One customer per user even when two requests race: Stripe answers a repeated key with the first
        # customer. Replacing a customer Stripe lost needs a key of its own.
        key = f"yourclaw-customer-{user_id}" + (f"-after-{replacing}" if replacing else "")
        options = {"idempotency_key": key}
        return await self._call("customers.create", self.client.v1.customers.create_async(params, options))

    async def create_checkout_session(
        self, *, customer_id: str, user_id: str, success_url: str, cancel_url: str
    ) -> dict:
        if not self.price_id:
            raise StripeNotConfigured("Payments are not set up on this server (STRIPE_PRICE_ID is missing)")
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": user_id,
            "line_items": [{"price": self.price_id, "quantity": 1}],
            "metadata": {"user_id": user_id},
            # Subscription events then carry the user too.
            "subscription_data": {"metadata": {"user_id": user_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return await self._call("checkout.sessions.create", self.client.v1.checkout.sessions.create_async(params))

    async def portal_configuration(self) -> str:
        """The customer portal's configuration: STRIPE_PORTAL_CONFIGURATION, or one made once per process
        (one per day with the idempotency key) with what the dashboard links to: invoice history, the card,
        cancelling at the end of the period."""
        if self._portal_configuration is None:
            params = {
                "features": {
                    "invoice_history": {"enabled": True},
                    "payment_method_update": {"enabled": True},
                    "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                },
            }
            options = {"idempotency_key": "yourclaw-portal-configuration-v1"}
            created = await self._call(
                "billing_portal.configurations.create",
                self.client.v1.billing_portal.configurations.create_async(params, options),
            )
            self._portal_configuration = created["id"]
        return self._portal_configuration

    async def create_portal_session(self, *, customer_id: str, return_url: str) -> dict:
        params = {"customer": customer_id, "return_url": return_url, "configuration": await self.portal_configuration()}
        return await self._call(
            "billing_portal.sessions.create", self.client.v1.billing_portal.sessions.create_async(params)
        )

    async def cancel_subscription(self, subscription_id: str) -> dict:
        """Ends the subscription now (not at the period's end): the user deleted their account."""
        return await self._call("subscriptions.cancel", self.client.v1.subscriptions.cancel_async(subscription_id))

    async def retrieve_subscription(self, subscription_id: str) -> dict:
        """The subscription as Stripe has it now, with its latest invoice expanded."""
        params = {"expand": ["latest_invoice"]}
        return await self._call(
            "subscriptions.retrieve", self.client.v1.subscriptions.retrieve_async(subscription_id, params)
        )
