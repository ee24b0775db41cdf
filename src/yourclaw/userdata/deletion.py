"""Deleting an account, in the order that loses nothing if a step fails: connected services are revoked and
the Stripe subscription is canceled first (a failure there answers 503 and deletes nothing, so the user can
try again), then every row goes in one transaction and every session ends with it; the reconciler removes
the container and the volume (`runtime.user_data`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.billing.status_map import CANCELED
from yourclaw.billing.stripe_client import ResourceMissing, StripeGateway
from yourclaw.userdata import repository as repo

log = structlog.get_logger(__name__)

# A connected service's revocation (e.g. Google's token revocation endpoint), called with the request's session
# before the rows go: it reads the tokens it revokes from them. Each integration registers one in
# `server.state.AppState.account_revokers`; a revoker that fails raises, and the account is not deleted.
Revoker = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
Revokers = NamedDependency[Sequence[Revoker]]


async def delete_account(
    session: AsyncSession, stripe: StripeGateway, revokers: Sequence[Revoker], user_id: uuid.UUID
) -> None:
    for revoke in revokers:
        await revoke(session, user_id)
    subscription = await repo.subscription_of(session, user_id)
    if subscription is not None and subscription.status != CANCELED:
        try:
            await stripe.cancel_subscription(subscription.stripe_subscription_id)
        except ResourceMissing:
            pass  # Stripe no longer has it: nothing left to cancel
    await repo.delete_account(session, user_id)
    log.info("account_deleted", user_id=str(user_id))
