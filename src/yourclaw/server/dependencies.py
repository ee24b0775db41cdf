"""Request-scoped dependencies: the app state, a database session that the request commits, the user."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import structlog
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.accounts import repository as accounts_repo
from yourclaw.accounts import web_session
from yourclaw.db.models import User
from yourclaw.kit.errors import NotAuthenticated
from yourclaw.server.state import AppState


def provide_app_state(state: State) -> AppState:
    return state.app_state


async def provide_db_session(app_state: NamedDependency[AppState]) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: services never commit; this commits after the handler returns
    and before the response is sent, and rolls back if anything raised."""
    async with app_state.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Sign in first: send Authorization: Bearer <access token>", code="NOT_AUTHENTICATED")
    return token.strip()


async def provide_current_user(
    request: Request, app_state: NamedDependency[AppState], db_session: NamedDependency[AsyncSession]
) -> User:
    """The user of a Bearer token or, without an Authorization header, of the browser's session cookie
    (whose writes must carry the CSRF token)."""
    session = None
    if "authorization" not in request.headers and web_session.SESSION_COOKIE in request.cookies:
        session = web_session.require(app_state.settings, request)
        user_id, email = session.user_id, session.email
    else:
        claims = await app_state.verifier.verify(bearer_token(request))
        try:
            user_id = uuid.UUID(claims.sub)
        except ValueError:
            raise NotAuthenticated("The token's subject is not a user id", code="INVALID_TOKEN") from None
        email = claims.email
    structlog.contextvars.bind_contextvars(user_id=str(user_id))
    user = await accounts_repo.upsert_user(db_session, user_id, email)
    if session is not None and session.revoked_by(user.sessions_revoked_at):
        raise NotAuthenticated("Your session has ended; sign in again", code="SESSION_EXPIRED")
    return user


# Explicit markers for handler and provider parameters (Litestar stops inferring them in 3.0).
AppStateDep = NamedDependency[AppState]
DbSession = NamedDependency[AsyncSession]
CurrentUser = NamedDependency[User]
