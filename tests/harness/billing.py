"""Helpers of the Stripe tests: a user ready to subscribe, checkout and payment on the stand-in, webhooks
signed with Stripe's scheme, and what the database says about a user's subscription afterwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from litestar.testing import AsyncTestClient
from sqlalchemy import Update, func, select, update
from sqlalchemy.dialects.postgresql import insert

from tests.harness.rows import sign_in
from yourclaw.credits import ledger as credits
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import Assistant, AssistantToken, CreditLedgerEntry, Outbox, Subscription, User, UserPhone
from yourclaw.standins.stripe import StripeStandin

WEBHOOK = "/api/v1/webhooks/stripe"


async def subscriber_to_be(client: AsyncTestClient, sessions, *, verified: bool = True) -> tuple[dict, uuid.UUID]:
    """Signed in, with a verified WhatsApp number (the "link" message's work, done directly here)."""
    headers, user_id = await sign_in(client)
    async with sessions() as s:
        await s.execute(insert(User).values(id=user_id).on_conflict_do_nothing())
        s.add(
            UserPhone(
                user_id=user_id,
                phone_e164=f"+1415{uuid.uuid4().int % 10**7:07d}",  # not `random`: hypothesis seeds it
                verified_at=datetime.now(UTC) if verified else None,
                verification_code=None if verified else "123456",
                code_expires_at=None if verified else datetime.now(UTC),
            )
        )
        await s.commit()
    return headers, user_id


async def start_checkout(client: AsyncTestClient, headers: dict) -> str:
    """The checkout session id of a new checkout."""
    response = await client.post("/api/v1/checkout", headers=headers)
    assert response.status_code == 200, response.text
    return urlsplit(response.json()["checkout_url"]).path.rsplit("/", 1)[-1]


@dataclass
class Paid:
    session_id: str
    subscription_id: str
    events: list[dict]


async def checkout_and_pay(client: AsyncTestClient, standin: StripeStandin, headers: dict) -> Paid:
    """Checkout through our API, then what "Pay $20" does at Stripe; the events are returned undelivered."""
    session_id = await start_checkout(client, headers)
    events = standin.complete_checkout(session_id)
    return Paid(session_id, standin.objects["checkout_sessions"][session_id]["subscription"], events)


async def deliver(client: AsyncTestClient, standin: StripeStandin, event: dict, **signing) -> None:
    body, headers = standin.signed(event, **signing)
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}


@dataclass
class State:
    subscription: Subscription | None
    assistant: Assistant | None
    tokens: list[AssistantToken]
    resets: list[str]  # ledger references of period resets, in order
    balance: credits.Balance
    outbox: list[Outbox]

    @property
    def wanted(self) -> bool:
        return self.assistant is not None and self.assistant.wanted


async def state_of(sessions, user_id: uuid.UUID) -> State:
    async with sessions() as s:
        resets = await s.scalars(
            select(CreditLedgerEntry.reference)
            .where(CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.reason == "RESET")
            .order_by(CreditLedgerEntry.id)
        )
        return State(
            subscription=await s.scalar(select(Subscription).where(Subscription.user_id == user_id)),
            assistant=await s.scalar(select(Assistant).where(Assistant.user_id == user_id)),
            tokens=list(await s.scalars(select(AssistantToken).where(AssistantToken.user_id == user_id))),
            resets=list(resets),
            balance=await credits_repo.balance(s, user_id),
            outbox=list(await s.scalars(select(Outbox).where(Outbox.user_id == user_id).order_by(Outbox.id))),
        )


def verify_phone(user_id: uuid.UUID) -> Update:
    """What the WhatsApp "link <code>" message does to a pending number."""
    return (
        update(UserPhone)
        .where(UserPhone.user_id == user_id)
        .values(verified_at=func.now(), verification_code=None, code_expires_at=None)
    )
