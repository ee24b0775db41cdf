"""The Stripe stand-in's HTTP side: the REST endpoints the stripe SDK calls (form-encoded, Bearer secret
key) and the two hosted pages a browser sees, checkout ("Pay $20") and the customer portal."""

from __future__ import annotations

import hmac
import html
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from yourclaw.standins.local_server import QuietHandler
from yourclaw.standins.stripe_shapes import PRICE_CENTS, StripeStandinError

if TYPE_CHECKING:
    from yourclaw.standins.stripe import StripeStandin

_CREATE = {
    "/v1/customers": "create_customer",
    "/v1/checkout/sessions": "create_checkout_session",
    "/v1/billing_portal/sessions": "create_portal_session",
    "/v1/billing_portal/configurations": "create_portal_configuration",
}
_RETRIEVE = re.compile(r"^/v1/(customers|checkout/sessions|subscriptions|invoices)/([A-Za-z0-9_]+)$")
_KIND = {"customers": "customers", "checkout/sessions": "checkout_sessions"}
_PAGE = re.compile(r"^/(checkout|portal)/([A-Za-z0-9_]+)(/pay|/cancel)?$")

_STYLE = """
body{background:#0f1115;color:#e6e6e6;font:16px/1.5 system-ui,sans-serif;display:flex;justify-content:center;
padding:4rem 1rem;margin:0}main{background:#181b22;border:1px solid #2a2f3a;border-radius:12px;padding:2rem;
max-width:24rem;width:100%}h1{font-size:1.25rem;margin:0 0 .5rem}p{color:#a8adb8}button{width:100%;padding:.75rem;
border:0;border-radius:8px;background:#6366f1;color:#fff;font-size:1rem;cursor:pointer}button.danger{background:#dc2626}
a{color:#a5b4fc}.note{font-size:.8rem;margin-top:1rem}
"""


def decode_form(raw: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts:
            node[parts[-1]] = value

    def lists(node: Any) -> Any:
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [lists(node[k]) for k in sorted(node, key=int)]
            return {k: lists(v) for k, v in node.items()}
        return node

    return lists(root)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    ).encode()


def make_handler(standin: StripeStandin) -> type[BaseHTTPRequestHandler]:
    return type("StripeStandinHandler", (_Handler,), {"standin": standin})


class _Handler(QuietHandler):
    standin: StripeStandin

    def _html(self, status: int, title: str, body: str) -> None:
        self._send(status, _page(title, body), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", Location=location)

    def _authorized(self) -> bool:
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(key.encode(), self.standin.api_key.encode()):
            return True
        self._send(401, StripeStandinError(401, "Invalid API Key provided.").body())
        return False

    def _body(self) -> str:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        raw = self._body()
        if match := _PAGE.match(path):
            self._page_action(match.group(1), match.group(2), match.group(3))
            return
        method = _CREATE.get(path)
        if method is None:
            self._send(404, StripeStandinError(404, f"Unrecognized request URL (POST: {path})").body())
            return
        if not self._authorized():
            return
        params = decode_form(raw)
        status, payload = self.standin.idempotent(
            self.headers.get("Idempotency-Key"), lambda: self.standin.public(getattr(self.standin, method)(params))
        )
        self._send(status, payload)

    def do_DELETE(self) -> None:  # noqa: N802
        """`subscriptions.cancel`: canceled now, with its event delivered as Stripe would."""
        path = urlsplit(self.path).path
        self._body()
        match = _RETRIEVE.match(path)
        if match is None or match.group(1) != "subscriptions":
            self._send(404, StripeStandinError(404, f"Unrecognized request URL (DELETE: {path})").body())
            return
        if not self._authorized():
            return
        try:
            if self.standin.get("subscriptions", match.group(2))["status"] == "canceled":
                raise StripeStandinError(400, "This subscription has already been canceled")
            events = self.standin.cancel(match.group(2))
        except StripeStandinError as exc:
            self._send(exc.status, exc.body())
            return
        self._send(200, self.standin.public(self.standin.get("subscriptions", match.group(2))))
        # After the answer and from another thread, as Stripe does: the caller's SDK may send its next request
        # (the webhook's read-back) on this very keep-alive connection, which this thread serves.
        threading.Thread(target=self.standin.deliver_all, args=(events,), name="stripe-deliver", daemon=True).start()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if match := _PAGE.match(parts.path):
            if match.group(3) is None:
                self._show_page(match.group(1), match.group(2))
            else:
                self._send(405, b"use the form", "text/plain")
            return
        match = _RETRIEVE.match(parts.path)
        if match is None:
            self._send(404, StripeStandinError(404, f"Unrecognized request URL (GET: {parts.path})").body())
            return
        if not self._authorized():
            return
        kind = _KIND.get(match.group(1), match.group(1))
        query = decode_form(parts.query)
        expand = query.get("expand") or []
        try:
            self._send(200, self.standin.public(self.standin.get(kind, match.group(2)), expand=expand))
        except StripeStandinError as exc:
            self._send(exc.status, exc.body())

    # --- the hosted pages ---------------------------------------------------------------------------

    def _show_page(self, kind: str, object_id: str) -> None:
        try:
            obj = self.standin.get("checkout_sessions" if kind == "checkout" else "portal_sessions", object_id)
        except StripeStandinError:
            self._html(404, "Not found", "<h1>This page has expired</h1><p>Start again from YourClaw.</p>")
            return
        if kind == "checkout":
            self._html(200, "YourClaw checkout", self._checkout_body(obj))
        else:
            self._html(200, "YourClaw billing", self._portal_body(obj))

    def _checkout_body(self, session: dict) -> str:
        dollars = PRICE_CENTS // 100
        if session["status"] != "open":
            done = html.escape(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]))
            return f'<h1>Already paid</h1><p><a href="{done}">Back to YourClaw</a></p>'
        back = html.escape(session["cancel_url"])
        return (
            f"<h1>YourClaw</h1><p>Your own assistant on WhatsApp: ${dollars}.00 per month, "
            "$10.00 of AI credits included.</p>"
            f'<form method="post" action="/checkout/{session["id"]}/pay">'
            f'<button id="pay" type="submit">Pay ${dollars}</button></form>'
            f'<p class="note">Local test checkout: no card is charged. <a href="{back}">Cancel</a></p>'
        )

    def _portal_body(self, portal: dict) -> str:
        back = html.escape(portal.get("return_url") or "/")
        live = [s for s in self.standin.subscriptions_of(portal["customer"]) if s["status"] != "canceled"]
        if not live:
            return f'<h1>Billing</h1><p>No active subscription.</p><p><a href="{back}">Back to YourClaw</a></p>'
        status = html.escape(live[0]["status"])
        return (
            f"<h1>Billing</h1><p>YourClaw monthly plan: {status}.</p>"
            f'<form method="post" action="/portal/{portal["id"]}/cancel">'
            '<button id="cancel" class="danger" type="submit">Cancel subscription</button></form>'
            f'<p class="note"><a href="{back}">Back to YourClaw</a></p>'
        )

    def _page_action(self, kind: str, object_id: str, action: str | None) -> None:
        try:
            if kind == "checkout" and action == "/pay":
                session = self.standin.get("checkout_sessions", object_id)
                # Delivered before the redirect: the page the browser lands on already sees the payment.
                self.standin.deliver_all(self.standin.complete_checkout(object_id))
                self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", object_id))
            elif kind == "portal" and action == "/cancel":
                portal = self.standin.get("portal_sessions", object_id)
                for subscription in self.standin.subscriptions_of(portal["customer"]):
                    if subscription["status"] != "canceled":
                        self.standin.deliver_all(self.standin.cancel(subscription["id"]))
                self._redirect(portal.get("return_url") or "/")
            else:
                self._send(404, b"not found", "text/plain")
        except StripeStandinError:
            self._html(404, "Not found", "<h1>This page has expired</h1><p>Start again from YourClaw.</p>")
