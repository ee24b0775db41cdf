"""The assistant's long poll for inbound messages (see docs/assistant-protocol.md).

Each poll also tells us which instance of the plugin is running and which config generation it sees;
the reconciler, not this handler, draws conclusions from that (READY, config applied, disconnected).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.assistants import repository as repo
from yourclaw.db.engine import transaction
from yourclaw.dependencies import AppStateDep
from yourclaw.errors import Conflict, NotAuthenticated
from yourclaw.runtime.assistant_auth import AssistantOwner, provide_assistant
from yourclaw.runtime.tokens import TokenOwner

# An unchanged poll is written at most this often: enough for the reconciler's "disconnected" check
# (twice the wait plus a margin), without a write per poll.
POLL_WRITE_INTERVAL = timedelta(seconds=5)
SUPERSEDED_KEPT = 8
MAX_WAIT = 60
DEFAULT_WAIT = 25
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_BIGINT_MAX = 2**63 - 1


def next_instances(current: str | None, superseded: list[str], presented: str) -> tuple[str, list[str]]:
    """The newest instance wins: the one it replaces joins the superseded (the most recent few)."""
    if current is None or current == presented:
        return presented, superseded
    return presented, [*superseded, current][-SUPERSEDED_KEPT:]


async def check_in(session: AsyncSession, owner: TokenOwner, *, instance_id: str, generation: int) -> None:
    state = await repo.lock_for_poll(session, owner.assistant_id, owner.user_id, fresh_within=POLL_WRITE_INTERVAL)
    if state is None or not state.wanted:
        raise NotAuthenticated("This assistant has been deleted", code="INVALID_ASSISTANT_TOKEN")
    if instance_id in state.superseded_instance_ids:
        raise Conflict(
            "A newer instance of this assistant is polling with the same token; this one must stop",
            code="INSTANCE_SUPERSEDED",
        )
    changed = instance_id != state.instance_id or generation != state.last_poll_generation
    if not changed and state.fresh:
        return
    current, superseded = next_instances(state.instance_id, list(state.superseded_instance_ids), instance_id)
    await repo.record_poll(
        session, owner.assistant_id, owner.user_id, instance_id=current, generation=generation, superseded=superseded
    )
    if changed:
        await repo.notify_poll_change(session, owner.assistant_id)


class PollController(Controller):
    path = "/runtime"
    tags = ["runtime"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @get("/inbound", status_code=204)
    async def inbound(
        self,
        app_state: AppStateDep,
        assistant: AssistantOwner,
        generation: Annotated[int, HeaderParameter(name="X-Config-Generation", ge=0, le=_BIGINT_MAX)],
        instance_id: Annotated[str, HeaderParameter(name="X-Instance-Id", pattern=INSTANCE_ID_PATTERN)],
        wait: Annotated[int, QueryParameter(ge=0, le=MAX_WAIT)] = DEFAULT_WAIT,
    ) -> None:
        # A transaction of its own, over before the wait: a waiting poll holds no database connection.
        async with transaction(app_state.sessions) as session:
            await check_in(session, assistant, instance_id=instance_id, generation=generation)
        await app_state.inbound.wait(assistant.user_id, wait)
