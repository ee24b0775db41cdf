"""Who is signed in: the user of a Bearer token or of the browser's session cookie, for any route that
declares `current_user: CurrentUser` (with `dependencies={"current_user": Provide(provide_current_user)}`)."""

from __future__ import annotations

import uuid

import structlog
from litestar import Request
from litestar.di import NamedDependency

from yourclaw.accounts import repository as accounts_repo
from yourclaw.accounts import web_session
from yourclaw.accounts.errors import AccountDisabled, InvalidToken, NotSignedIn, SessionExpired, TokenRevoked
from yourclaw.accounts.jwt_verifier import TokenVerifier
from yourclaw.accounts.supabase_users import SupabaseUsers
from yourclaw.db.models import User
from yourclaw.kit.di import DbSession, SettingsDep

# A bearer token issued before the user signed out (of any browser) ends with the cookie sessions.
SIGNED_OUT = "This sign-in ended when you signed out; sign in again"

# The sign-in token verifier the process built once (JWKS cache included); provided by the server.
Verifier = NamedDependency[TokenVerifier]
# Whether Supabase still has the user, unbanned; provided by the server.
SupabaseUsersDep = NamedDependency[SupabaseUsers]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn("Sign in first: send Authorization: Bearer <access token>")
    return token.strip()


def user_id_of(sub: str) -> uuid.UUID:
    try:
        return uuid.UUID(sub)
    except ValueError:
        raise InvalidToken("The token's subject is not a user id") from None


async def provide_current_user(
    request: Request,
    settings: SettingsDep,
    verifier: Verifier,
    supabase_users: SupabaseUsersDep,
    db_session: DbSession,
) -> User:
    """The user of a Bearer token or, without an Authorization header, of the browser's session cookie
    (whose writes must carry the CSRF token)."""
    session = claims = None
    if "authorization" not in request.headers and web_session.SESSION_COOKIE in request.cookies:
        session = web_session.require(settings, request)
        user_id, email = session.user_id, session.email
    else:
        claims = await verifier.verify(bearer_token(request))
        user_id, email = user_id_of(claims.sub), claims.email
    structlog.contextvars.bind_contextvars(user_id=str(user_id))
    user = await accounts_repo.upsert_user(db_session, user_id, email)
    if session is not None and session.revoked_by(user.sessions_revoked_at):
        raise SessionExpired("Your session has ended; sign in again")
    if claims is not None and claims.issued_before(user.sessions_revoked_at):
        raise TokenRevoked(SIGNED_OUT)
    # After the checks above: what a sign-out already ended never costs a call to Supabase.
    if not await supabase_users.still_active(user_id):
        await accounts_repo.revoke_sessions(db_session, user_id)
        # The refusal rolls the request back, and this sign-out must stay.
        await db_session.commit()
        raise AccountDisabled("This account has been disabled or deleted")
    return user


CurrentUser = NamedDependency[User]
