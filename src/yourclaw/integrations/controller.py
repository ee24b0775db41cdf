"""The connected-services API: start a Google consent, Google's redirect back, the list the dashboard
shows, and disconnecting."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, delete, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Redirect

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.integrations import service
from yourclaw.integrations.schemas import AuthUrlOut, IntegrationsOut
from yourclaw.integrations.services import named
from yourclaw.kit.di import DbSession, HttpClient, SecretsDep, SettingsDep


def _dashboard(settings_app_url: str, **query: str) -> str:
    return settings_app_url.rstrip("/") + "/dashboard?" + urlencode(query) + "#services"


class OAuthController(Controller):
    path = "/oauth"
    tags = ["connected services"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/google/{service_name:str}/connect")
    async def connect(
        self,
        settings: SettingsDep,
        secrets: SecretsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        service_name: str,
    ) -> AuthUrlOut:
        """Where to send the browser: Google's consent for this service's scopes, with PKCE and a state bound to
        the signed-in user (single use, GOOGLE_OAUTH_STATE_TTL_SECONDS)."""
        url = await service.start_connect(db_session, settings, secrets, current_user.id, named(service_name))
        return AuthUrlOut(auth_url=url)

    @get("/google/{service_name:str}/callback")
    async def callback(
        self,
        settings: SettingsDep,
        http: HttpClient,
        secrets: SecretsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        service_name: str,
        # `state` is a name Litestar keeps for the app's state.
        oauth_state: Annotated[str, QueryParameter(name="state")] = "",
        code: str = "",
        error: str = "",
    ) -> Redirect:
        """Google sends the browser back here. A state we did not make, made for another user, used before or
        expired, and a code Google will not redeem with our verifier, are refused with a 4xx saying so; the
        user saying no at Google goes back to the dashboard with `oauth_error`."""
        svc = named(service_name)
        if error:
            return Redirect(_dashboard(settings.app_url, oauth_error=error[:40], service=svc.name))
        await service.finish_connect(
            db_session, settings, http, secrets, current_user.id, svc, state=oauth_state[:200], code=code[:2000]
        )
        return Redirect(_dashboard(settings.app_url, connected=svc.name))

    @get("/integrations")
    async def integrations(
        self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser
    ) -> IntegrationsOut:
        return await service.overview(db_session, settings, current_user.id)

    @delete("/google/{service_name:str}", status_code=204)
    async def disconnect(
        self,
        settings: SettingsDep,
        http: HttpClient,
        secrets: SecretsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        service_name: str,
    ) -> None:
        """Revoked at Google, then forgotten; the assistant's tools for it are gone from its next call."""
        await service.disconnect(db_session, settings, http, secrets, current_user.id, named(service_name))
