"""Local development without Stripe (MOCK_STRIPE): a user's first assistant request gets what a paid
checkout would give, an active subscription and the signup credits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.billing import credits
from yourclaw.db.models import Subscription
from yourclaw.settings import Settings

MOCK_PERIOD = timedelta(days=30)
SIGNUP_REFERENCE = "mock-signup"


async def ensure_mock_subscription(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> bool:
    """True when this call created the subscription (and granted the credits); False when the user had one."""
    if not settings.mock_stripe:
        # A free subscription outside local development would be free service.
        raise RuntimeError("mock subscriptions exist only with MOCK_STRIPE=true")
    created = await session.scalar(
        insert(Subscription)
        .values(
            user_id=user_id,
            stripe_customer_id=f"mock_cus_{user_id.hex}",
            stripe_subscription_id=f"mock_sub_{user_id.hex}",
            status="ACTIVE",
            current_period_end=datetime.now(UTC) + MOCK_PERIOD,
        )
        .on_conflict_do_nothing()
        .returning(Subscription.id)
    )
    if created is None:
        return False
    if settings.signup_credit_cents > 0:
        await credits.grant(
            session, user_id, settings.signup_credit_cents * credits.MILLICENTS_PER_CENT, reference=SIGNUP_REFERENCE
        )
    return True
