"""Stripe's webhooks on the real app and PostgreSQL, the real stripe SDK re-reading the local Stripe
stand-in, every delivery signed with Stripe's scheme: bad signatures are refused, a replay changes
nothing, and any order of delivery ends in Stripe's truth."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from stripe import WebhookSignature

from tests.harness.billing import WEBHOOK, checkout_and_pay, deliver, state_of, subscriber_to_be
from tests.harness.waiting import wait_for
from yourclaw.billing import service
from yourclaw.billing.grace import run_grace_sweeper
from yourclaw.billing.status_map import to_ours
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import StripeEvent, Subscription

pytestmark = pytest.mark.db


TEN_DOLLARS = 1000


async def _post(client, body: bytes, headers: dict) -> tuple[int, str | None]:
    response = await client.post(WEBHOOK, content=body, headers=headers)
    return response.status_code, response.json().get("code")


async def test_signature_failures_are_refused_and_change_nothing(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    event = paid.events[-1]

    body, signed = stripe_standin.signed(event, secret="whsec_not_ours")
    assert await _post(billing_client, body, signed) == (400, "INVALID_SIGNATURE")
    body, signed = stripe_standin.signed(event, timestamp=int(time.time()) - 600)
    assert await _post(billing_client, body, signed) == (400, "INVALID_SIGNATURE")
    body, signed = stripe_standin.signed(event)
    tampered = body.replace(b'"status": "complete"', b'"status": "open"')
    assert tampered != body
    assert await _post(billing_client, tampered, signed) == (400, "INVALID_SIGNATURE")
    assert await _post(billing_client, body, {"Content-Type": "application/json"}) == (400, "INVALID_SIGNATURE")
    assert await _post(billing_client, body, {"Stripe-Signature": "t=abc,v1=zz"}) == (400, "INVALID_SIGNATURE")

    # Correctly signed, but not an event (or not even UTF-8): refused as a payload, never a 500.
    for junk in (b"not json", b"[1, 2]", b'{"id": "evt_1"}', b'{"id": "", "type": "x", "data": {"object": {}}}'):
        header = WebhookSignature.generate_signature_header(junk.decode(), stripe_standin.webhook_secret)
        assert await _post(billing_client, junk, {"Stripe-Signature": header}) == (400, "INVALID_PAYLOAD"), junk
    latin = '{"x": "\u00e9"}'.encode("latin-1")
    header = WebhookSignature.generate_signature_header(latin.decode("latin-1"), stripe_standin.webhook_secret)
    assert await _post(billing_client, latin, {"Stripe-Signature": header}) == (400, "INVALID_PAYLOAD")

    after = await state_of(sessions, user_id)
    assert after.subscription is None and after.assistant is None and after.resets == []
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StripeEvent)) == 0

    # The genuine delivery still works afterwards.
    await deliver(billing_client, stripe_standin, event)
    assert (await state_of(sessions, user_id)).subscription.status == "ACTIVE"


async def test_a_signed_invoice_whose_parent_is_not_an_object_is_acknowledged(billing_client, stripe_standin):
    invoice = {"object": "invoice", "customer": "cus_nobody", "parent": "oops"}
    body = msgspec.json.encode({"id": "evt_parent_oops", "type": "invoice.paid", "data": {"object": invoice}})
    header = WebhookSignature.generate_signature_header(body.decode(), stripe_standin.webhook_secret)
    response = await billing_client.post(WEBHOOK, content=body, headers={"Stripe-Signature": header})
    assert response.status_code == 200, response.text


async def test_the_same_event_three_times_has_one_effect(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    invoice_paid = next(e for e in paid.events if e["type"] == "invoice.paid")
    for _ in range(3):
        await deliver(billing_client, stripe_standin, invoice_paid)

    state = await state_of(sessions, user_id)
    assert state.subscription.status == "ACTIVE" and state.subscription.stripe_subscription_id == paid.subscription_id
    assert state.resets == [
        f"invoice:{stripe_standin.objects['subscriptions'][paid.subscription_id]['latest_invoice']}"
    ]
    assert state.balance.total_cents == TEN_DOLLARS and state.balance.remaining_cents == TEN_DOLLARS
    assert state.wanted and state.assistant.status == "PROVISIONING" and len(state.tokens) == 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StripeEvent)) == 1


async def test_credits_reset_once_per_paid_invoice(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events:
        await deliver(billing_client, stripe_standin, event)
    first_invoice = stripe_standin.objects["subscriptions"][paid.subscription_id]["latest_invoice"]
    async with sessions() as s:
        await credits_repo.charge(s, user_id, 700 * credits.MILLICENTS_PER_CENT, reference="llm:1")
        await s.commit()
    assert (await state_of(sessions, user_id)).balance.remaining_cents == 300

    renewal = stripe_standin.renew(paid.subscription_id)
    for event in renewal + renewal:
        await deliver(billing_client, stripe_standin, event)
    second_invoice = stripe_standin.objects["subscriptions"][paid.subscription_id]["latest_invoice"]
    state = await state_of(sessions, user_id)
    assert state.resets == [f"invoice:{first_invoice}", f"invoice:{second_invoice}"]
    assert state.balance.remaining_cents == TEN_DOLLARS and state.balance.total_cents == TEN_DOLLARS

    # Spending in the new period, then a late, never-delivered event about the first invoice: the
    # current period's credits stay as they are.
    async with sessions() as s:
        await credits_repo.charge(s, user_id, 100 * credits.MILLICENTS_PER_CENT, reference="llm:2")
        await s.commit()
    late = stripe_standin._emit("invoice.payment_succeeded", stripe_standin.objects["invoices"][first_invoice])
    await deliver(billing_client, stripe_standin, late)
    state = await state_of(sessions, user_id)
    assert len(state.resets) == 2 and state.balance.remaining_cents == TEN_DOLLARS - 100
    # A renewal does not provision again: one assistant, one token, wanted since the first payment.
    assert state.wanted and len(state.tokens) == 1


async def test_cancel_stops_the_assistant_through_desired_state(billing_client, stripe_standin, sessions):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events:
        await deliver(billing_client, stripe_standin, event)
    assert (await state_of(sessions, user_id)).wanted

    (at_period_end,) = stripe_standin.cancel(paid.subscription_id, at_period_end=True)
    await deliver(billing_client, stripe_standin, at_period_end)
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "ACTIVE" and state.subscription.cancel_at_period_end and state.wanted

    for event in stripe_standin.cancel(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "CANCELED"
    assert not state.assistant.wanted and state.assistant.phase == "deleting" and state.assistant.deleted_at
    assert all(t.revoked_at is not None for t in state.tokens)
    response = await billing_client.post("/api/v1/assistants", headers=headers)
    assert response.status_code == 402 and response.json()["code"] == "SUBSCRIPTION_REQUIRED"


async def test_past_due_keeps_the_assistant_through_grace_and_tells_the_user_once(
    billing_client, stripe_standin, stripe_settings, sessions
):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events:
        await deliver(billing_client, stripe_standin, event)

    failed = stripe_standin.fail_payment(paid.subscription_id)
    for event in failed + failed:
        await deliver(billing_client, stripe_standin, event)
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "PAST_DUE" and state.subscription.past_due_since is not None
    assert state.wanted and all(t.revoked_at is None for t in state.tokens)
    notices = [m for m in state.outbox if (m.dedupe_key or "").startswith("past_due:")]
    assert len(notices) == 1 and "payment" in notices[0].body and stripe_settings.app_url in notices[0].body
    assert len(state.resets) == 1  # an unpaid period brings no credits

    # Within grace nothing stops; after it, the periodic sweep does (once).
    async with sessions() as s:
        assert await service.suspend_lapsed(s, stripe_settings, datetime.now(UTC) + timedelta(days=6)) == 0
        assert await service.suspend_lapsed(s, stripe_settings, datetime.now(UTC) + timedelta(days=8)) == 1
        await s.commit()
    async with sessions() as s:
        assert await service.suspend_lapsed(s, stripe_settings, datetime.now(UTC) + timedelta(days=9)) == 0
    state = await state_of(sessions, user_id)
    assert not state.wanted and all(t.revoked_at is not None for t in state.tokens)

    # Paying the failed invoice brings the assistant back with the period's credits.
    for event in stripe_standin.recover(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "ACTIVE" and state.subscription.suspended_at is None
    assert state.subscription.past_due_since is None
    assert state.wanted and state.assistant.status == "PROVISIONING"
    assert len(state.resets) == 2 and state.balance.remaining_cents == TEN_DOLLARS
    assert len([m for m in state.outbox if (m.dedupe_key or "").startswith("past_due:")]) == 1


SCENARIOS = {
    "sign-up": [],
    "renewal": ["renew"],
    "failed payment then recovery": ["fail_payment", "recover"],
    "cancellation": ["cancel"],
    "the whole year": ["renew", "fail_payment", "recover", "renew", "cancel"],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@hypothesis_settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_order_of_delivery_ends_in_stripes_state(billing_client, stripe_standin, sessions, scenario, data):
    """Events of each step may arrive at once, after later steps, in any order, some twice: the end
    state is Stripe's."""
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    pending = list(paid.events)
    delivered: list[dict] = []

    async def deliver_some(count: int) -> None:
        order = data.draw(st.permutations(range(len(pending))))
        chosen = [pending[i] for i in order[:count]]
        for event in chosen:
            pending.remove(event)
        for event in chosen:
            await deliver(billing_client, stripe_standin, event)
        delivered.extend(chosen)

    for action in SCENARIOS[scenario]:
        await deliver_some(data.draw(st.integers(0, len(pending))))
        pending.extend(getattr(stripe_standin, action)(paid.subscription_id))
    await deliver_some(len(pending))
    for event in data.draw(st.lists(st.sampled_from(delivered), max_size=3)):
        await deliver(billing_client, stripe_standin, event)

    truth = stripe_standin.objects["subscriptions"][paid.subscription_id]
    state = await state_of(sessions, user_id)
    sub = state.subscription
    assert sub.stripe_subscription_id == paid.subscription_id
    assert sub.status == to_ours(truth["status"])
    assert sub.cancel_at_period_end == truth["cancel_at_period_end"]
    assert int(sub.current_period_end.timestamp()) == truth["items"]["data"][0]["current_period_end"]
    if sub.status == "ACTIVE":
        assert state.wanted and len(state.tokens) == 1
        assert state.resets[-1] == f"invoice:{truth['latest_invoice']}"
        assert len(state.resets) == len(set(state.resets))
        assert state.balance.total_cents == TEN_DOLLARS
    else:
        assert sub.status == "CANCELED" and not state.wanted
        assert all(t.revoked_at is not None for t in state.tokens)
    async with sessions() as s:
        seen = await s.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.id.in_([e["id"] for e in delivered]))
        )
        assert seen == len({e["id"] for e in delivered})
        assert await s.scalar(select(func.count()).select_from(Subscription).where(Subscription.user_id == user_id))


async def test_the_worker_sweep_stops_an_assistant_whose_grace_ran_out(
    billing_client, stripe_standin, stripe_settings, sessions
):
    headers, user_id = await subscriber_to_be(billing_client, sessions)
    paid = await checkout_and_pay(billing_client, stripe_standin, headers)
    for event in paid.events:
        await deliver(billing_client, stripe_standin, event)
    for event in stripe_standin.fail_payment(paid.subscription_id):
        await deliver(billing_client, stripe_standin, event)
    async with sessions() as s:
        await s.execute(
            update(Subscription)
            .where(Subscription.user_id == user_id)
            .values(past_due_since=datetime.now(UTC) - timedelta(days=stripe_settings.past_due_grace_days, hours=1))
        )
        await s.commit()

    stop = asyncio.Event()
    sweeper = asyncio.create_task(run_grace_sweeper(stripe_settings, sessions, stop, interval=0.05))
    try:
        await wait_for(lambda: _unwanted(sessions, user_id), message="the lapsed assistant to be stopped")
    finally:
        stop.set()
        await asyncio.wait_for(sweeper, 5)
    state = await state_of(sessions, user_id)
    assert state.subscription.status == "PAST_DUE" and state.subscription.suspended_at is not None


async def _unwanted(sessions, user_id) -> bool:
    state = await state_of(sessions, user_id)
    return state.assistant is not None and not state.assistant.wanted
