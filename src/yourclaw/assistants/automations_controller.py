"""`PUT /runtime/automations`: the assistant's plugin reports every reminder and watcher it has set up for its
user (OpenClaw keeps them inside the container), so the dashboard can show them. Authenticated with the
assistant token, like the rest of the assistant protocol (docs/assistant-protocol.md)."""

from __future__ import annotations

from litestar import Controller, put
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.assistants import automations
from yourclaw.assistants.schemas import AutomationsIn, AutomationsStored
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.protocol.auth import AssistantOwner, provide_assistant


class AutomationsController(Controller):
    path = "/runtime/automations"
    tags = ["runtime"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @put("/", status_code=200)
    async def replace(
        self, settings: SettingsDep, db_session: DbSession, assistant: AssistantOwner, data: JSONBody[AutomationsIn]
    ) -> AutomationsStored:
        return await automations.replace(db_session, settings, assistant.user_id, data)
