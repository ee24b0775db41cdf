"""The assistant's long poll for inbound messages (see docs/assistant-protocol.md).

Each poll also tells us which instance of the plugin is running and which config generation it sees;
the reconciler, not this handler, draws conclusions from that (READY, config applied, disconnected).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Annotated

import httpx
import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.engine import transaction
from yourclaw.kit.di import HttpClient, Sessions, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.protocol import repository as repo
from yourclaw.protocol.auth import AssistantOwner, provide_assistant
from yourclaw.protocol.errors import InstanceSuperseded, InvalidAssistantToken
from yourclaw.protocol.inbound_media import offer_media
from yourclaw.protocol.tokens import TokenOwner
from yourclaw.protocol.typing import TypingDep
from yourclaw.protocol.waiter import InboundWaiter

# The process's one waiter: every waiting poll of this process is in it.
Waiter = NamedDependency[InboundWaiter]

# An unchanged poll is written at most this often: enough for the reconciler's "disconnected" check
# (twice the wait plus a margin), without a write per poll.
POLL_WRITE_INTERVAL = timedelta(seconds=5)
SUPERSEDED_KEPT = 8
MAX_WAIT = 60
DEFAULT_WAIT = 25
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_BIGINT_MAX = 2**63 - 1
# While the LISTEN connection is down a waiting poll looks for itself this often.
UNLISTENED_RECHECK = 2.0
# Clocks: wake a little after the lease in flight runs out, not a little before.
LEASE_MARGIN = 0.05


class MediaOut(msgspec.Struct):
    url: str
    content_type: str


class InboundOut(msgspec.Struct):
    id: uuid.UUID
    from_: str = msgspec.field(name="from")  # the user's id, never the phone: a new number keeps the chat
    text: str
    media: list[MediaOut]
    received_at: datetime


class InboundBatch(msgspec.Struct):
    messages: list[InboundOut]


def next_instances(current: str | None, superseded: list[str], presented: str) -> tuple[str, list[str]]:
    """The newest instance wins: the one it replaces joins the superseded (the most recent few)."""
    if current is None or current == presented:
        return presented, superseded
    return presented, [*superseded, current][-SUPERSEDED_KEPT:]


async def check_in(session: AsyncSession, owner: TokenOwner, *, instance_id: str, generation: int) -> None:
    state = await repo.lock_for_poll(session, owner.assistant_id, owner.user_id, fresh_within=POLL_WRITE_INTERVAL)
    if state is None or not state.wanted:
        raise InvalidAssistantToken("This assistant has been deleted")
    if instance_id in state.superseded_instance_ids:
        raise InstanceSuperseded(
            "A newer instance of this assistant is polling with the same token; this one must stop"
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


async def take_message(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, owner: TokenOwner, instance_id: str
) -> repo.Take:
    """One hand-out attempt, in a short transaction of its own (any media fetch comes after it)."""
    async with transaction(sessions) as session:
        return await repo.hand_out(
            session, owner.user_id, instance_id=instance_id, lease_seconds=settings.inbound_lease_seconds
        )


async def as_batch(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, http: httpx.AsyncClient, message: repo.HandedOut
) -> InboundBatch:
    links = await offer_media(message, settings=settings, sessions=sessions, http=http)
    out = InboundOut(
        id=message.id,
        from_=str(message.user_id),
        text=message.body,
        media=[MediaOut(url=link.url, content_type=link.content_type) for link in links],
        received_at=message.received_at,
    )
    return InboundBatch(messages=[out])


async def next_message(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    waiter: InboundWaiter,
    owner: TokenOwner,
    instance_id: str,
    wait: float,
) -> repo.HandedOut | None:
    """The user's next message, waiting up to `wait` seconds for one. Registered with the waiter before
    each look, so a notification between the look and the wait is not lost; no connection is held while
    waiting. A message in flight ends the wait early when its lease runs out (redelivery). A newer poll for the
    same user ends this one (see `InboundWaiter.poll`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    woken = False
    with waiter.poll(owner.user_id) as newest:
        while not waiter.closed and newest():
            with waiter.listen(owner.user_id) as wakeup:
                take = await take_message(sessions, settings, owner, instance_id)
                if take.message is not None:
                    return take.message
                if woken and take.busy_for is None:
                    # Woken, yet nothing is queued or in flight (taken and finished meanwhile): answer now,
                    # the plugin polls again at once.
                    return None
                pause = deadline - loop.time()
                if pause <= 0:
                    return None
                if take.busy_for is not None:
                    pause = min(pause, max(take.busy_for, 0.0) + LEASE_MARGIN)
                if not waiter.listening:
                    pause = min(pause, UNLISTENED_RECHECK)
                woken = await wakeup.wait(pause)
    return None


class PollController(Controller):
    path = "/runtime"
    tags = ["runtime"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @get("/inbound", status_code=200)
    async def inbound(
        self,
        settings: SettingsDep,
        sessions: Sessions,
        http: HttpClient,
        inbound_waiter: Waiter,
        typing: TypingDep,
        assistant: AssistantOwner,
        generation: Annotated[int, HeaderParameter(name="X-Config-Generation", ge=0, le=_BIGINT_MAX)],
        instance_id: Annotated[str, HeaderParameter(name="X-Instance-Id", pattern=INSTANCE_ID_PATTERN)],
        wait: Annotated[int, QueryParameter(ge=0, le=MAX_WAIT)] = DEFAULT_WAIT,
    ) -> Response[InboundBatch | None]:
        # A transaction of its own, over before the wait: a waiting poll holds no database connection.
        async with transaction(sessions) as session:
            await check_in(session, assistant, instance_id=instance_id, generation=generation)
        message = await next_message(sessions, settings, inbound_waiter, assistant, instance_id, wait)
        if message is None:
            return Response(None, status_code=204)
        typing.handed_out(message.id, message.message_sid)
        return Response(await as_batch(sessions, settings, http, message), status_code=200)
