"""SQL for billing. What serves a user's request is scoped to that user; what serves a webhook is scoped
to the Stripe customer or subscription the event names."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import BillingCustomer, StripeEvent, Subscription, User, UserPhone


async def get_subscription(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    return await session.scalar(select(Subscription).where(Subscription.user_id == user_id))


async def lock_subscription(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.user_id == user_id).with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """One billing change per user at a time (two checkout clicks, say); False when there is no such user."""
    found = await session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    return found is not None


async def lock_customer(session: AsyncSession, customer_id: str) -> None:
    """Serialises the events of one Stripe customer: each re-reads Stripe after the previous committed,
    so the last one applied carries the newest state."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("stripe-customer:" + customer_id))))


async def has_verified_phone(session: AsyncSession, user_id: uuid.UUID) -> bool:
    stmt = select(UserPhone.id).where(UserPhone.user_id == user_id, UserPhone.verified_at.is_not(None))
    return (await session.scalar(stmt)) is not None


async def user_email(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.email).where(User.id == user_id))


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return (await session.scalar(select(User.id).where(User.id == user_id))) is not None


async def customer_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The user's Stripe customer: the one kept since their first checkout, else their subscription's."""
    stored = await session.scalar(select(BillingCustomer.stripe_customer_id).where(BillingCustomer.user_id == user_id))
    if stored:
        return stored
    return await session.scalar(select(Subscription.stripe_customer_id).where(Subscription.user_id == user_id))


async def owner_of_customer(session: AsyncSession, customer_id: str) -> uuid.UUID | None:
    return await session.scalar(
        select(BillingCustomer.user_id).where(BillingCustomer.stripe_customer_id == customer_id)
    )


async def save_customer(session: AsyncSession, user_id: uuid.UUID, customer_id: str, *, replace: bool) -> None:
    stmt = insert(BillingCustomer).values(user_id=user_id, stripe_customer_id=customer_id)
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=[BillingCustomer.user_id], set_={"stripe_customer_id": customer_id}
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    await session.execute(stmt)


async def record_event(session: AsyncSession, event_id: str, event_type: str) -> bool:
    """False when this event was recorded before. A concurrent delivery of the same event waits here for
    the first to commit (primary key), then finds it."""
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(id=event_id, type=event_type)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    return inserted is not None


async def insert_subscription(session: AsyncSession, user_id: uuid.UUID, **values: object) -> Subscription:
    stmt = insert(Subscription).values(user_id=user_id, **values).returning(Subscription)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def update_subscription(session: AsyncSession, user_id: uuid.UUID, **values: object) -> Subscription:
    stmt = update(Subscription).where(Subscription.user_id == user_id).values(**values).returning(Subscription)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def lock_lapsed(session: AsyncSession, started_before: datetime, limit: int = 100) -> list[Subscription]:
    """Unpaid subscriptions whose grace period is over and whose assistant still runs; rows another
    worker is handling are skipped."""
    stmt = (
        select(Subscription)
        .where(
            Subscription.status == "PAST_DUE",
            Subscription.past_due_since < started_before,
            Subscription.suspended_at.is_(None),
        )
        .order_by(Subscription.past_due_since)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(stmt))
