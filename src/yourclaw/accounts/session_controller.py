"""The browser's session: exchange a verified sign-in token (Supabase, or dev sign-in) for our cookie, read it,
end it. See `web_session` for the cookie and CSRF rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.params import JSONBody

from yourclaw.accounts import repository as repo
from yourclaw.accounts import web_session
from yourclaw.accounts.dependencies import SIGNED_OUT, Verifier, bearer_token, user_id_of
from yourclaw.accounts.errors import CrossSiteRequest, NotSignedIn, TokenRevoked
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.kit.errors import UnsupportedMediaType
from yourclaw.kit.settings import Settings


class SessionInput(msgspec.Struct):
    access_token: str


class SessionOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str | None
    expires_at: datetime
    # The value to send as X-CSRF-Token on writes (also readable from the yourclaw_csrf cookie).
    csrf_token: str


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refuse_cross_site(settings: Settings, request: Request) -> None:
    """Login CSRF (signing a victim into someone else's account): a cross-site form cannot send JSON without a
    CORS preflight, which only APP_URL passes, and browsers name the page's origin on every such POST."""
    content_type, _ = request.content_type
    if content_type != "application/json":
        raise UnsupportedMediaType("Send the token as application/json")
    origin = request.headers.get("origin")
    if origin and origin not in {_origin(settings.app_url), _origin(settings.api_url)}:
        raise CrossSiteRequest("Sign-in is accepted only from this site's own pages")


def _out(settings: Settings, session: web_session.WebSession) -> SessionOut:
    return SessionOut(
        user_id=session.user_id,
        email=session.email,
        expires_at=datetime.fromtimestamp(session.expires_at, UTC),
        csrf_token=web_session.csrf_token(settings, session.sid),
    )


class SessionController(Controller):
    path = "/session"
    tags = ["session"]

    @post("/", status_code=200)
    async def create(
        self,
        request: Request,
        settings: SettingsDep,
        verifier: Verifier,
        db_session: DbSession,
        data: JSONBody[SessionInput],
    ) -> Response[SessionOut]:
        _refuse_cross_site(settings, request)
        claims = await verifier.verify(data.access_token.strip())
        user_id = user_id_of(claims.sub)
        user = await repo.upsert_user(db_session, user_id, claims.email)
        # Or a token from before a sign-out would make a new session.
        if claims.issued_before(user.sessions_revoked_at):
            raise TokenRevoked(SIGNED_OUT)
        token, session = web_session.issue(settings, user_id, claims.email)
        response = Response(_out(settings, session), media_type=MediaType.JSON)
        return web_session.with_cookies(response, web_session.session_cookies(settings, token, session))

    @get("/")
    async def show(self, request: Request, settings: SettingsDep, db_session: DbSession) -> SessionOut:
        session = web_session.from_request(settings, request)
        if session is None or session.revoked_by(await repo.sessions_revoked_at(db_session, session.user_id)):
            raise NotSignedIn("You are not signed in")
        return _out(settings, session)

    @delete("/", status_code=204)
    async def end(
        self, request: Request, settings: SettingsDep, verifier: Verifier, db_session: DbSession
    ) -> Response[None]:
        """Signs this user out of every browser and ends their bearer tokens: the cookie is stateless, so
        ending only this one would leave a copied cookie working until it expires."""
        session = web_session.from_request(settings, request)
        if "authorization" in request.headers:
            # A client signed in with a bearer token signs out with it; one that has already ended cannot
            # sign the user out of the sign-ins made since.
            claims = await verifier.verify(bearer_token(request))
            user_id = user_id_of(claims.sub)
            if claims.issued_before(await repo.sessions_revoked_at(db_session, user_id)):
                raise TokenRevoked(SIGNED_OUT)
            await repo.revoke_sessions(db_session, user_id)
        elif session is not None:
            # Otherwise any site could sign people out.
            web_session.check_csrf(settings, request, session)
            await repo.revoke_sessions(db_session, session.user_id)
        response = Response(None, status_code=204)
        return web_session.with_cookies(response, web_session.cleared_cookies(settings))
