"""A local stand-in for the part of Stripe we use, spoken to by the real stripe SDK (HTTP side in
`stripe_http`). It keeps customers, checkout sessions, subscriptions, invoices and portal sessions in
the current API version's shapes, checks the secret key, honours idempotency keys and answers with
Stripe's errors. Paying on its checkout page creates the subscription and its paid invoice and delivers
the signed events before redirecting (so the page the browser lands on sees the payment). Tests drive
renewals, failures, recoveries and cancellations, and deliver any event in any order, duplicated, or
signed however they like; `deliver` blocks, so call it through `asyncio.to_thread` when the app shares
the caller's loop. `yourclaw dev` (MOCK_STRIPE) runs one in the API process (`standins.Standins`)."""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
from stripe import WebhookSignature

from yourclaw.standins.local_server import LocalServer
from yourclaw.standins.stripe_http import make_handler
from yourclaw.standins.stripe_shapes import PRICE_CENTS, StripeStandinError

log = structlog.get_logger(__name__)

DEV_API_KEY = "sk_test_yourclaw_local_stand_in"
DEV_PRICE_ID = "price_yourclaw_monthly"
PERIOD_SECONDS = 30 * 86400
API_VERSION = "2026-10-28.endive"
KINDS = ("customers", "checkout_sessions", "subscriptions", "invoices", "portal_sessions", "portal_configurations")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def missing(kind: str, object_id: str, param: str = "id") -> StripeStandinError:
    return StripeStandinError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


@dataclass
class StripeStandin:
    api_key: str = DEV_API_KEY
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_urlsafe(24))
    price_id: str = DEV_PRICE_ID
    # Where paying and the portal deliver their events; None: they are only recorded (tests deliver).
    webhook_url: str | None = None
    # Keeps the objects across restarts (`yourclaw dev`), so ids stored in our database stay valid.
    state_file: Path | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.objects: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        self.events: list[dict] = []
        self.deliveries: list[tuple[str, int]] = []  # (event id, our HTTP status), in delivery order
        self._idempotent: dict[str, tuple[int, dict]] = {}
        self.clock_offset = 0
        self._local = LocalServer("Stripe stand-in")
        self._http: httpx.Client | None = None
        if self.state_file is not None and self.state_file.is_file():
            stored = json.loads(self.state_file.read_text())
            for kind in KINDS:
                self.objects[kind].update(stored.get(kind, {}))

    # --- life -------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        return self._local.start(make_handler(self), port)

    def stop(self) -> None:
        self._local.stop()
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def base_url(self) -> str:
        return self._local.base_url

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.objects))
        os.replace(tmp, self.state_file)

    # --- the API (called by the HTTP handler with decoded form params) ----------------------------

    def idempotent(self, key: str | None, make) -> tuple[int, dict]:
        """Stripe answers a repeated Idempotency-Key with the first answer."""
        with self._lock:
            if key and key in self._idempotent:
                return self._idempotent[key]
            try:
                answer = (200, make())
            except StripeStandinError as exc:
                answer = (exc.status, exc.body())
            if key:
                self._idempotent[key] = answer
            self._save()
            return answer

    def get(self, kind: str, object_id: str, *, param: str = "id") -> dict:
        with self._lock:
            found = self.objects[kind].get(object_id)
            if found is None:
                raise missing(kind.rstrip("s").replace("_", " "), object_id, param)
            return found

    def create_customer(self, params: dict) -> dict:
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "metadata": params.get("metadata") or {},
            "created": self.now(),
            "livemode": False,
        }
        self.objects["customers"][customer["id"]] = customer
        return customer

    def create_checkout_session(self, params: dict) -> dict:
        if params.get("mode") != "subscription":
            raise StripeStandinError(400, "This stand-in only supports mode=subscription", param="mode")
        customer = params.get("customer")
        if not customer:
            raise StripeStandinError(400, "Missing required param: customer.", param="customer")
        self.get("customers", customer, param="customer")
        items = params.get("line_items") or []
        if len(items) != 1 or items[0].get("price") != self.price_id:
            raise missing("price", str(items[0].get("price") if items else None), "line_items[0][price]")
        for name in ("success_url", "cancel_url"):
            if not str(params.get(name, "")).startswith(("http://", "https://")):
                raise StripeStandinError(400, f"Not a valid URL: {name}", param=name)
        session_id = _new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "status": "open",
            "payment_status": "unpaid",
            "subscription": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.base_url}/checkout/{session_id}",
            "created": self.now(),
            "livemode": False,
            # Not Stripe's field: what `subscription_data` asked the new subscription to carry.
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata") or {},
        }
        self.objects["checkout_sessions"][session_id] = session
        return session

    def create_portal_configuration(self, params: dict) -> dict:
        features = params.get("features") or {}
        config_id = _new_id("bpc")
        configuration = {
            "id": config_id,
            "object": "billing_portal.configuration",
            "active": True,
            # What the portal shows, as asked (the form encoding makes "true" a string).
            "features": {name: {**f, "enabled": f.get("enabled") in (True, "true")} for name, f in features.items()},
            "created": self.now(),
            "livemode": False,
        }
        self.objects["portal_configurations"][config_id] = configuration
        return configuration

    def create_portal_session(self, params: dict) -> dict:
        customer = str(params.get("customer") or "")
        self.get("customers", customer, param="customer")
        configuration = params.get("configuration")
        if configuration:
            self.get("portal_configurations", str(configuration), param="configuration")
        portal_id = _new_id("bps")
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": params.get("return_url"),
            "configuration": configuration,
            "url": f"{self.base_url}/portal/{portal_id}",
            "created": self.now(),
            "livemode": False,
        }
        self.objects["portal_sessions"][portal_id] = portal
        return portal

    def public(self, obj: dict, expand: list[str] = ()) -> dict:
        shown = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if "latest_invoice" in expand and shown.get("latest_invoice"):
            shown["latest_invoice"] = self.public(self.get("invoices", shown["latest_invoice"]))
        return shown

    # --- what happens in Stripe (each returns the events it emitted, in Stripe's usual order) -------

    def _emit(self, event_type: str, obj: dict) -> dict:
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "type": event_type,
            "data": {"object": self.public(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
        }
        self.events.append(event)
        return event

    def _invoice(self, subscription: dict, reason: str, *, paid: bool) -> dict:
        item = subscription["items"]["data"][0]
        invoice = {
            "id": _new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "billing_reason": reason,
            "status": "paid" if paid else "open",
            "amount_due": PRICE_CENTS,
            "amount_paid": PRICE_CENTS if paid else 0,
            "currency": "usd",
            "attempt_count": 1,
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            },
            "created": self.now(),
            "livemode": False,
        }
        self.objects["invoices"][invoice["id"]] = invoice
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def _paid(self, invoice: dict) -> list[dict]:
        return [self._emit("invoice.paid", invoice), self._emit("invoice.payment_succeeded", invoice)]

    def complete_checkout(self, session_id: str) -> list[dict]:
        """What paying on the checkout page does; paying an already completed session does nothing."""
        with self._lock:
            session = self.get("checkout_sessions", session_id)
            if session["status"] != "open":
                return []
            now = self.now()
            subscription = {
                "id": _new_id("sub"),
                "object": "subscription",
                "customer": session["customer"],
                "status": "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "metadata": dict(session["_subscription_metadata"]),
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": _new_id("si"),
                            "object": "subscription_item",
                            "price": {"id": self.price_id, "object": "price", "unit_amount": PRICE_CENTS},
                            "quantity": 1,
                            "current_period_start": now,
                            "current_period_end": now + PERIOD_SECONDS,
                        }
                    ],
                },
                "latest_invoice": None,
                "created": now,
                "livemode": False,
            }
            self.objects["subscriptions"][subscription["id"]] = subscription
            invoice = self._invoice(subscription, "subscription_create", paid=True)
            session.update(status="complete", payment_status="paid", subscription=subscription["id"])
            events = [self._emit("customer.subscription.created", subscription), *self._paid(invoice)]
            events.append(self._emit("checkout.session.completed", session))
            self._save()
            return events

    def _next_period(self, subscription: dict) -> None:
        item = subscription["items"]["data"][0]
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] += PERIOD_SECONDS

    def renew(self, subscription_id: str) -> list[dict]:
        """A new period, paid."""
        with self._lock:
            subscription = self.get("subscriptions", subscription_id)
            self._next_period(subscription)
            invoice = self._invoice(subscription, "subscription_cycle", paid=True)
            subscription["status"] = "active"
            events = [*self._paid(invoice), self._emit("customer.subscription.updated", subscription)]
            self._save()
            return events

    def fail_payment(self, subscription_id: str) -> list[dict]:
        """A new period whose payment fails: the subscription goes past_due."""
        with self._lock:
            subscription = self.get("subscriptions", subscription_id)
            self._next_period(subscription)
            invoice = self._invoice(subscription, "subscription_cycle", paid=False)
            subscription["status"] = "past_due"
            failed = self._emit("invoice.payment_failed", invoice)
            events = [failed, self._emit("customer.subscription.updated", subscription)]
            self._save()
            return events

    def recover(self, subscription_id: str) -> list[dict]:
        """The failed invoice is paid after all (a new card, a retry that worked)."""
        with self._lock:
            subscription = self.get("subscriptions", subscription_id)
            invoice = self.get("invoices", subscription["latest_invoice"])
            invoice.update(status="paid", amount_paid=invoice["amount_due"])
            invoice["attempt_count"] += 1
            subscription["status"] = "active"
            events = [*self._paid(invoice), self._emit("customer.subscription.updated", subscription)]
            self._save()
            return events

    def cancel(self, subscription_id: str, *, at_period_end: bool = False) -> list[dict]:
        with self._lock:
            subscription = self.get("subscriptions", subscription_id)
            if at_period_end:
                subscription["cancel_at_period_end"] = True
                event = self._emit("customer.subscription.updated", subscription)
            else:
                subscription.update(status="canceled", canceled_at=self.now(), cancel_at_period_end=False)
                event = self._emit("customer.subscription.deleted", subscription)
            self._save()
            return [event]

    def set_status(self, subscription_id: str, status: str) -> list[dict]:
        """Any Stripe status (paused, unpaid, incomplete_expired...), announced as an update."""
        with self._lock:
            subscription = self.get("subscriptions", subscription_id)
            subscription["status"] = status
            events = [self._emit("customer.subscription.updated", subscription)]
            self._save()
            return events

    def subscriptions_of(self, customer_id: str) -> list[dict]:
        with self._lock:
            return [s for s in self.objects["subscriptions"].values() if s["customer"] == customer_id]

    # --- webhooks ---------------------------------------------------------------------------------

    def signed(self, event: dict, *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, dict]:
        """The body and headers of a delivery, signed with Stripe's scheme (the webhook secret by default)."""
        payload = json.dumps(event)
        header = WebhookSignature.generate_signature_header(payload, secret or self.webhook_secret, timestamp)
        return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}

    def deliver(self, event: dict, *, url: str | None = None, **signing: Any) -> int:
        """POST one event to our webhook (blocking); returns our HTTP status."""
        target = url or self.webhook_url
        if target is None:
            raise RuntimeError("no webhook URL to deliver to")
        body, headers = self.signed(event, **signing)
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=30.0)
            http = self._http
        try:
            status = http.post(target, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            log.warning("stripe_standin_delivery_failed", event=event["id"], error=type(exc).__name__)
            status = 0
        with self._lock:
            self.deliveries.append((event["id"], status))
        return status

    def deliver_all(self, events: list[dict]) -> list[int]:
        return [self.deliver(event) for event in events] if self.webhook_url else []
