"""The signed-in user's own LLM key: set (checked), show (last four characters only), remove."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.kit.di import DbSession, HttpClient, SecretsDep, SettingsDep
from yourclaw.llm.own_keys import service
from yourclaw.llm.own_keys.schemas import ApiKeyIn, ApiKeyOut

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
        self,
        settings: SettingsDep,
        http: HttpClient,
        secrets: SecretsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        data: JSONBody[ApiKeyIn],
    ) -> ApiKeyOut:
        """Checks the key with Anthropic, then stores it encrypted; the proxy uses it from the next call."""
        return await service.set_key(db_session, settings, http, secrets, current_user.id, data.provider, data.key)

    @delete("/", status_code=204)
    async def remove(self, db_session: DbSession, current_user: CurrentUser) -> None:
        """Back to the shared key (and to credits)."""
        await service.remove(db_session, current_user.id, PROVIDER)
