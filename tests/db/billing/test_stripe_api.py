"""The billing routes on the real app and PostgreSQL, the real stripe SDK calling the local Stripe
stand-in: checkout, the portal, the subscription view, who may see what, and the whole local journey."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from tests.harness.billing import checkout_and_pay, deliver, start_checkout, state_of, subscriber_to_be, verify_phone
from tests.harness.database import truncate
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import sign_in
from tests.harness.settings import make_settings
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import ApiKey, BillingCustomer, Subscription

pytestmark = pytest.mark.db


SUBSCRIPTION_KEYS = {
    "status",
    "current_period_end",
    "cancel_at_period_end",
    "credits_remaining_cents",
    "credits_total_cents",
    "byok_active",
}


async def _paid_subscriber(client, standin, sessions):
    headers, user_id = await subscriber_to_be(client, sessions)
    paid = await checkout_and_pay(client, standin, headers)
    for event in paid.events:
        await deliver(client, standin, event)
    return headers, user_id, paid


async def test_checkout_makes_a_subscription_session_for_this_user(
    billing_client, stripe_standin, stripe_settings, sessions
):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    response = await billing_client.post("/api/v1/checkout", headers=headers)
    assert response.status_code == 200 and set(response.json()) == {"checkout_url"}
    url = response.json()["checkout_url"]
    assert url.startswith(stripe_standin.base_url + "/checkout/cs_test_")

    session = stripe_standin.objects["checkout_sessions"][urlsplit(url).path.rsplit("/", 1)[-1]]
    assert session["mode"] == "subscription" and session["client_reference_id"] == str(user_id)
    assert session["_subscription_metadata"] == {"user_id": str(user_id)}
    assert session["success_url"] == f"{stripe_settings.app_url}/dashboard?session_id={{CHECKOUT_SESSION_ID}}"
    assert session["cancel_url"] == f"{stripe_settings.app_url}/dashboard?checkout=canceled"
    async with sessions() as s:
        stored = await s.scalar(select(BillingCustomer).where(BillingCustomer.user_id == user_id))
    assert stored.stripe_customer_id == session["customer"]
    assert stripe_standin.objects["customers"][session["customer"]]["metadata"] == {"user_id": str(user_id)}

    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
    assert page.status_code == 200 and '<button id="pay"' in page.text and "Pay $20" in page.text
    assert stripe_settings.stripe_secret_key not in response.text + page.text


async def test_one_customer_per_user_reused_across_checkouts(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    first = await start_checkout(billing_client, headers)
    second = await start_checkout(billing_client, headers)
    sessions_made = stripe_standin.objects["checkout_sessions"]
    assert first != second and sessions_made[first]["customer"] == sessions_made[second]["customer"]
    assert len(stripe_standin.objects["customers"]) == 1

    # After a subscription ended, subscribing again still uses the same customer.
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events + stripe_standin.cancel(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    again = await start_checkout(billing_client, headers)
    assert sessions_made[again]["customer"] == sessions_made[first]["customer"]
    assert len(stripe_standin.objects["customers"]) == 1

    # A customer Stripe no longer knows is replaced, not an error.
    stripe_standin.objects["customers"].clear()
    replaced = await start_checkout(billing_client, headers)
    assert sessions_made[replaced]["customer"] != sessions_made[first]["customer"]
    async with sessions() as s:
        stored = await s.scalar(select(BillingCustomer.stripe_customer_id).where(BillingCustomer.user_id == user_id))
    assert stored == sessions_made[replaced]["customer"]


async def test_checkout_conflicts(billing_client, stripe_standin, sessions):
    no_phone, _ = await sign_in(billing_client)
    response = await billing_client.post("/api/v1/checkout", headers=no_phone)
    assert response.status_code == 409 and response.json()["code"] == "PHONE_NOT_VERIFIED"
    unverified, _ = await subscriber_to_be(billing_client, sessions, verified=False)
    response = await billing_client.post("/api/v1/checkout", headers=unverified)
    assert response.status_code == 409 and response.json()["code"] == "PHONE_NOT_VERIFIED"
    assert stripe_standin.objects["customers"] == {}

    headers, user_id, paid = await _paid_subscriber(billing_client, stripe_standin, sessions)
    response = await billing_client.post("/api/v1/checkout", headers=headers)
    assert response.status_code == 409 and response.json()["code"] == "ALREADY_SUBSCRIBED"

    for event in stripe_standin.fail_payment(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    response = await billing_client.post("/api/v1/checkout", headers=headers)
    assert response.status_code == 409 and response.json()["code"] == "ALREADY_SUBSCRIBED"  # still in grace

    async with sessions() as s:
        await s.execute(
            update(Subscription)
            .where(Subscription.user_id == user_id)
            .values(past_due_since=datetime.now(UTC) - timedelta(days=8))
        )
        await s.commit()
    assert (await billing_client.post("/api/v1/checkout", headers=headers)).status_code == 200


async def test_portal(billing_client, stripe_standin, stripe_settings, sessions):
    never, _ = await subscriber_to_be(billing_client, sessions)
    response = await billing_client.post("/api/v1/billing/portal", headers=never)
    assert response.status_code == 409 and response.json()["code"] == "NO_BILLING_ACCOUNT"

    headers, user_id, paid = await _paid_subscriber(billing_client, stripe_standin, sessions)
    response = await billing_client.post("/api/v1/billing/portal", headers=headers)
    assert response.status_code == 200 and set(response.json()) == {"portal_url"}
    url = response.json()["portal_url"]
    portal = stripe_standin.objects["portal_sessions"][urlsplit(url).path.rsplit("/", 1)[-1]]
    assert portal["return_url"] == f"{stripe_settings.app_url}/dashboard"
    assert portal["customer"] == stripe_standin.objects["subscriptions"][paid.subscription_id]["customer"]
    # The dashboard's "Invoices" opens this portal: its configuration shows the invoice history.
    configuration = stripe_standin.objects["portal_configurations"][portal["configuration"]]
    assert configuration["features"]["invoice_history"]["enabled"] is True
    again = await billing_client.post("/api/v1/billing/portal", headers=headers)
    second = stripe_standin.objects["portal_sessions"][urlsplit(again.json()["portal_url"]).path.rsplit("/", 1)[-1]]
    assert (
        second["configuration"] == portal["configuration"] and len(stripe_standin.objects["portal_configurations"]) == 1
    )

    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "Cancel subscription" in page.text
        left = await browser.post(url + "/cancel")  # no webhook URL here: the events are only recorded
    assert left.status_code == 303 and left.headers["location"] == f"{stripe_settings.app_url}/dashboard"
    await deliver(billing_client, stripe_standin, stripe_standin.events[-1])
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "CANCELED" and not state.wanted


async def test_subscription_view(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    before = await billing_client.get("/api/v1/subscription", headers=headers)
    assert before.status_code == 200
    assert before.json() == {
        "status": "NONE",
        "current_period_end": None,
        "cancel_at_period_end": False,
        "credits_remaining_cents": 0,
        "credits_total_cents": 0,
        "byok_active": False,
    }

    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events:
        await deliver(billing_client, stripe_standin, event)
    async with sessions() as s:
        await credits_repo.charge(s, user_id, 250 * credits.MILLICENTS_PER_CENT + 500, reference="llm:x")
        s.add(ApiKey(user_id=user_id, encrypted_key="x", key_hint="abcd"))
        await s.commit()
    body = (await billing_client.get("/api/v1/subscription", headers=headers)).json()
    assert set(body) == SUBSCRIPTION_KEYS
    period_end = stripe_standin.objects["subscriptions"][paid.subscription_id]["items"]["data"][0]["current_period_end"]
    assert datetime.fromisoformat(body["current_period_end"]) == datetime.fromtimestamp(period_end, UTC)
    assert body["status"] == "ACTIVE" and body["cancel_at_period_end"] is False
    assert body["credits_total_cents"] == 1000 and body["credits_remaining_cents"] == 749  # rounded down
    assert body["byok_active"] is True


async def test_users_cannot_see_or_change_each_others_subscription(billing_client, stripe_standin, sessions):
    headers_a, user_a, paid = await _paid_subscriber(billing_client, stripe_standin, sessions)
    headers_b, user_b = await subscriber_to_be(billing_client, sessions)

    assert (await billing_client.get("/api/v1/subscription", headers=headers_b)).json()["status"] == "NONE"
    portal = await billing_client.post("/api/v1/billing/portal", headers=headers_b)
    assert portal.status_code == 409 and portal.json()["code"] == "NO_BILLING_ACCOUNT"
    b_session = await start_checkout(billing_client, headers_b)
    a_customer = stripe_standin.objects["subscriptions"][paid.subscription_id]["customer"]
    assert stripe_standin.objects["checkout_sessions"][b_session]["customer"] != a_customer

    # A's cancellation reaches only A.
    for event in stripe_standin.cancel(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    assert (await state_of(sessions, user_a)).subscription.status == "CANCELED"
    assert (await state_of(sessions, user_b)).subscription is None
    assert (await billing_client.get("/api/v1/subscription", headers=headers_a)).json()["status"] == "CANCELED"


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/v1/checkout"), ("post", "/api/v1/billing/portal"), ("get", "/api/v1/subscription")],
)
async def test_billing_routes_need_sign_in(billing_client, method, path):
    response = await getattr(billing_client, method)(path)
    assert response.status_code == 401 and response.json()["code"] == "NOT_AUTHENTICATED"


async def test_openapi_lists_the_billing_endpoints(billing_client):
    paths = (await billing_client.get("/api/v1/schema/openapi.json")).json()["paths"]
    assert "post" in paths["/api/v1/checkout"] and "post" in paths["/api/v1/billing/portal"]
    assert "get" in paths["/api/v1/subscription"] and "post" in paths["/api/v1/webhooks/stripe"]
    subscription = paths["/api/v1/subscription"]["get"]["responses"]["200"]
    assert subscription["content"]["application/json"]["schema"]


async def test_the_local_journey_through_the_api_and_the_stand_ins_page(database_url, sessions, engine, tmp_path):
    """MOCK_STRIPE as `yourclaw dev` runs it: the app starts the stand-in, which delivers signed webhooks
    to the app's own address. Sign-in, phone, checkout, "Pay $20", and the assistant is on its way."""
    port = free_port()
    settings = make_settings(
        database_url, API_URL=f"http://127.0.0.1:{port}", MOCK_STRIPE="true", YOURCLAW_STATE_DIR=str(tmp_path)
    )
    try:
        async with LiveServer(settings, port=port) as server, httpx.AsyncClient(base_url=server.url) as api:
            login = (await api.post("/api/v1/dev/login", json={"email": "journey@example.com"})).json()
            headers = {"Authorization": f"Bearer {login['access_token']}"}
            user_id = uuid.UUID(login["user_id"])
            phone = await api.post("/api/v1/users/me/phone", json={"phone": "+14155550123"}, headers=headers)
            assert phone.status_code == 200
            # The "link <code>" WhatsApp message is the messaging worker's step (tests/db/cli/test_cli.py walks it).
            async with sessions() as s:
                await s.execute(verify_phone(user_id))
                await s.commit()

            checkout = await api.post("/api/v1/checkout", headers=headers)
            assert checkout.status_code == 200, checkout.text
            page_url = checkout.json()["checkout_url"]
            assert (await api.get(page_url)).status_code == 200
            paid = await api.post(page_url + "/pay")  # what the page's form sends
            assert paid.status_code == 303
            assert paid.headers["location"].startswith(f"{settings.app_url}/dashboard?session_id=cs_test_")

            subscription = (await api.get("/api/v1/subscription", headers=headers)).json()
            assert subscription["status"] == "ACTIVE" and subscription["credits_remaining_cents"] == 1000
            assistant = (await api.get("/api/v1/assistants", headers=headers)).json()
            assert assistant["status"] == "PROVISIONING" and assistant["phase"] == "placing"
            assert (tmp_path / "stripe-fake.json").is_file()  # kept across restarts of `yourclaw dev`
    finally:
        await truncate(engine)
