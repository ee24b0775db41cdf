"""The signed-in user's own LLM key: set (checked), show (last four characters only), remove."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.llm.own_keys import service
from yourclaw.llm.own_keys.schemas import ApiKeyIn, ApiKeyOut
from yourclaw.server.dependencies import AppStateDep, CurrentUser, DbSession, provide_current_user

# One provider for now; the table and the shapes already name it.
PROVIDER = "ANTHROPIC"


class ApiKeysController(Controller):
    path = "/api-keys"
    tags = ["billing"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def show(self, db_session: DbSession, current_user: CurrentUser) -> ApiKeyOut:
        return await service.current(db_session, current_user.id, PROVIDER)

    @post("/", status_code=201)
    async def put(
        self, app_state: AppStateDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[ApiKeyIn]
    ) -> ApiKeyOut:
        """Checks the key with Anthropic (unless the dev stand-in answers instead), then stores it
        encrypted; the proxy uses it from the next call."""
        return await service.set_key(
            db_session, app_state.settings, app_state.http, app_state.secrets, current_user.id, data.provider, data.key
        )

    @delete("/", status_code=204)
    async def remove(self, db_session: DbSession, current_user: CurrentUser) -> None:
        """Back to the shared key (and to credits)."""
        await service.remove(db_session, current_user.id, PROVIDER)
