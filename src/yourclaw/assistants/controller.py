"""Routes for the signed-in user's assistant (desired state: answers at once, 202) and the model catalogue."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.assistants import service
from yourclaw.assistants.schemas import AssistantOut, AssistantRequest, ModelChange, ModelsOut
from yourclaw.kit.di import DbSession, SecretsDep

EntitlementDep = NamedDependency[service.Entitlement]


class AssistantsController(Controller):
    path = "/assistants"
    tags = ["assistants"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def show(self, db_session: DbSession, current_user: CurrentUser) -> AssistantOut:
        return await service.current(db_session, current_user.id)

    @post("/", status_code=202)
    async def start(
        self,
        secrets: SecretsDep,
        entitlement: EntitlementDep,
        db_session: DbSession,
        current_user: CurrentUser,
        data: JSONBody[AssistantRequest | None] = None,
    ) -> AssistantOut:
        return await service.request_assistant(
            db_session,
            secrets,
            current_user.id,
            entitled=entitlement,
            recreate=data.recreate if data else False,
        )

    @patch("/", status_code=202)
    async def change(
        self, db_session: DbSession, current_user: CurrentUser, data: JSONBody[ModelChange]
    ) -> AssistantOut:
        return await service.change_model(db_session, current_user.id, data.model)

    @delete("/", status_code=202)
    async def remove(self, db_session: DbSession, current_user: CurrentUser) -> AssistantOut:
        return await service.delete(db_session, current_user.id)

    @get("/models")
    async def models(self) -> ModelsOut:
        return service.models()
