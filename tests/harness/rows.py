"""Rows made directly, as if the product's own flows had already run: users, phones, assistants with their
tokens, credits, subscriptions; and signing in through the dev login."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, User, UserCredits, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens


async def add_user(session: AsyncSession) -> uuid.UUID:
    """A bare user row in the caller's session (flushed, not committed)."""
    user = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.com")
    session.add(user)
    await session.flush()
    return user.id


async def sign_in(client: AsyncTestClient, email: str | None = None) -> tuple[dict[str, str], uuid.UUID]:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post("/api/v1/dev/login", json={"email": email})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, uuid.UUID(body["user_id"])


async def make_assistant(
    sessions,
    box: SecretBox,
    *,
    email: str | None = None,
    millicents: int = 0,
    status: str = "READY",
    phase: str = "ready",
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A user with an assistant (READY unless told) and its current token, and `millicents` of credit:
    (user, assistant, token)."""
    async with sessions() as s:
        user = User(id=uuid.uuid4(), email=email or f"{uuid.uuid4().hex[:8]}@example.com")
        s.add(user)
        await s.flush()
        row = Assistant(user_id=user.id, model=catalog.DEFAULT_MODEL, status=status, phase=phase)
        s.add(row)
        await s.flush()
        token = await tokens.issue(s, box, user_id=user.id, assistant_id=row.id)
        if millicents:
            await credits_repo.grant(s, user.id, millicents, reference=f"grant-{user.id}")
        await s.commit()
    return user.id, row.id, token


async def make_user(
    sessions,
    phone: str,
    *,
    verified: bool = True,
    assistant: str | None = "READY",
    phase: str = "ready",
    cents: int = 100,
    code: str = "123456",
    code_expires_in: timedelta = timedelta(minutes=30),
) -> uuid.UUID:
    async with transaction(sessions) as s:
        user = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.com")
        s.add(user)
        await s.flush()
        s.add(
            UserPhone(
                user_id=user.id,
                phone_e164=phone,
                verified_at=datetime.now(UTC) if verified else None,
                verification_code=None if verified else code,
                code_expires_at=None if verified else datetime.now(UTC) + code_expires_in,
            )
        )
        if assistant is not None:
            s.add(Assistant(user_id=user.id, model=catalog.DEFAULT_MODEL, status=assistant, phase=phase))
        if cents:
            await credits_repo.grant(s, user.id, cents * 1000, reference=f"test-grant-{user.id}")
        return user.id


async def subscribe(sessions_or_session, user_id: uuid.UUID, status: str = "ACTIVE") -> None:
    """A subscription row written directly, as if Stripe's webhooks had already been applied (the user
    row is made if missing). Takes a sessionmaker (commits) or a session (the caller commits)."""
    from sqlalchemy.dialects.postgresql import insert

    from yourclaw.db.models import Subscription

    async def write(s) -> None:
        await s.execute(insert(User).values(id=user_id).on_conflict_do_nothing())
        now = datetime.now(UTC)
        s.add(
            Subscription(
                user_id=user_id,
                stripe_customer_id=f"cus_{user_id.hex[:12]}",
                stripe_subscription_id=f"sub_{user_id.hex}",
                status=status,
                current_period_end=now + timedelta(days=30),
                activated_at=now if status in ("ACTIVE", "PAST_DUE") else None,
                past_due_since=now if status == "PAST_DUE" else None,
            )
        )
        await s.flush()

    if isinstance(sessions_or_session, AsyncSession):
        await write(sessions_or_session)
    else:
        async with transaction(sessions_or_session) as s:
            await write(s)


async def signed_up(client: AsyncTestClient) -> tuple[dict[str, str], uuid.UUID]:
    """Signed in, and the user row exists (the first authenticated request makes it)."""
    headers, user_id = await sign_in(client)
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    return headers, user_id


async def database_today(sessions) -> date:
    """Today by the database's calendar, which the daily counters use."""
    async with sessions() as s:
        return await s.scalar(select(func.current_date()))


async def credit_figures(sessions, user_id: uuid.UUID) -> tuple[int, int, int, int]:
    """The user's credits as the ledger holds them: (total, used, reserved, open reservations), millicents."""
    async with sessions() as s:
        row = (
            await s.execute(
                select(
                    UserCredits.total_millicents,
                    UserCredits.used_millicents,
                    UserCredits.reserved_millicents,
                    UserCredits.open_reservations,
                ).where(UserCredits.user_id == user_id)
            )
        ).one()
    return tuple(row)
