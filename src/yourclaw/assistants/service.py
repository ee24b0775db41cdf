"""The user's assistant as desired state. Stateless: takes the session, never commits, never touches
Docker; every change notifies the reconciler, which converges the containers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.assistants import repository as repo
from yourclaw.assistants.errors import NoAssistant, SubscriptionRequired, UnknownModel
from yourclaw.assistants.schemas import AssistantOut, ModelOut, ModelsOut
from yourclaw.db.models import Assistant
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens

_LABELS = {m.id: m.label for m in catalog.MODELS}

# Whether the user's subscription lets them run an assistant. Billing decides it, and billing sits above this
# package (it starts and stops assistants as payments come and go), so the server hands its answer in.
Entitlement = Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]

# Phases in which the user deserves an explanation even though nothing failed for good.
_TROUBLED_PHASES = {
    "crash_loop": "Your assistant keeps stopping unexpectedly; it is being restarted.",
    "disconnected": "Your assistant has not checked in for a while; we are looking into it.",
    "unknown": "We cannot reach the machine your assistant runs on right now; retrying.",
    "restarting": "Your assistant is restarting.",
    "moving": "Your assistant is moving to another machine; your messages wait and are answered after.",
    "restoring": "Your assistant's files are being restored from a backup; your messages wait for it.",
}
_ERROR_REASON = "Your assistant could not be started. Try again; if it keeps failing, contact support."
# Reasons come from the reconciler; one line of bounded length is all a status page should show.
_REASON_MAX = 300

NONE_VIEW = AssistantOut(
    status="NONE",
    phase="none",
    model=None,
    model_label=None,
    created_at=None,
    ready_at=None,
    last_message_at=None,
    reason=None,
)


def _reason(assistant: Assistant) -> str | None:
    if assistant.status == "ERROR":
        fallback = _ERROR_REASON
    elif assistant.phase in _TROUBLED_PHASES:
        fallback = _TROUBLED_PHASES[assistant.phase]
    else:
        return None
    given = (assistant.phase_reason or assistant.last_error or "").strip().splitlines()
    if not given:
        return fallback
    line = given[0]
    return line if len(line) <= _REASON_MAX else line[: _REASON_MAX - 1] + "…"


def view(assistant: Assistant | None) -> AssistantOut:
    if assistant is None or not assistant.wanted:
        return NONE_VIEW
    return AssistantOut(
        status=assistant.status,
        phase=assistant.phase,
        model=assistant.model,
        model_label=_LABELS.get(assistant.model, assistant.model),
        created_at=assistant.created_at,
        ready_at=assistant.ready_at,
        last_message_at=assistant.last_message_at,
        reason=_reason(assistant),
    )


def models() -> ModelsOut:
    return ModelsOut(
        models=[
            ModelOut(id=m.id, label=m.label, summary=m.summary, default=m.id == catalog.DEFAULT_MODEL)
            for m in catalog.MODELS
        ]
    )


async def current(session: AsyncSession, user_id: uuid.UUID) -> AssistantOut:
    return view(await repo.get(session, user_id))


async def request_assistant(
    session: AsyncSession,
    secrets: SecretBox,
    user_id: uuid.UUID,
    *,
    entitled: Entitlement,
    recreate: bool = False,
) -> AssistantOut:
    """Want an assistant. Asking again for a working one changes nothing: a double click or a retry
    must never tear it down; only `recreate` or a failed assistant provisions afresh."""
    if not await entitled(session, user_id):
        raise SubscriptionRequired("An active subscription is needed to run an assistant; subscribe first")
    return await want(session, secrets, user_id, recreate=recreate)


async def want(
    session: AsyncSession, secrets: SecretBox, user_id: uuid.UUID, *, recreate: bool = False
) -> AssistantOut:
    """The desired-state change behind `request_assistant`, for callers that settled entitlement
    themselves (billing, on a paid subscription)."""
    assistant = await repo.lock(session, user_id)
    if assistant is None:
        created = await repo.insert_if_absent(session, user_id, model=catalog.DEFAULT_MODEL)
        if created is not None:
            await tokens.issue(session, secrets, user_id=user_id, assistant_id=created.id)
            await repo.notify_desired_change(session, user_id)
            return view(created)
        # A concurrent request for this user inserted first; carry on with its row.
        assistant = await repo.lock(session, user_id)
        assert assistant is not None

    if not assistant.wanted:
        assistant = await repo.want_again(session, user_id, recreate=recreate)
        await tokens.revoke_all(session, assistant.id)
        await tokens.issue(session, secrets, user_id=user_id, assistant_id=assistant.id)
    elif recreate or assistant.status == "ERROR":
        assistant = await repo.request_recreate(session, user_id)
    else:
        return view(assistant)
    await repo.notify_desired_change(session, user_id)
    return view(assistant)


async def delete(session: AsyncSession, user_id: uuid.UUID) -> AssistantOut:
    """Stop wanting the assistant; its tokens die now, so its container can no longer poll or spend
    while the reconciler removes it."""
    assistant = await repo.lock(session, user_id)
    if assistant is not None and assistant.wanted:
        await repo.mark_unwanted(session, user_id)
        await tokens.revoke_all(session, assistant.id)
        await repo.notify_desired_change(session, user_id)
    return NONE_VIEW


async def _lock_wanted(session: AsyncSession, user_id: uuid.UUID) -> Assistant:
    assistant = await repo.lock(session, user_id)
    if assistant is None or not assistant.wanted:
        raise NoAssistant("You have no assistant; start one first")
    return assistant


async def change_model(session: AsyncSession, user_id: uuid.UUID, model: str) -> AssistantOut:
    if not catalog.is_offered(model):
        offered = ", ".join(m.id for m in catalog.MODELS)
        raise UnknownModel(f"Unknown model {model!r}; choose one of: {offered}")
    assistant = await _lock_wanted(session, user_id)
    if assistant.model != model:
        assistant = await repo.set_model(session, user_id, model)
        await repo.record_event(session, user_id, "model_changed", model)
        await repo.notify_desired_change(session, user_id)
    return view(assistant)


async def rotate_token(session: AsyncSession, secrets: SecretBox, user_id: uuid.UUID) -> None:
    """Issue a new current token. The old ones stay valid until the reconciler confirms the running
    assistant uses the new one (then they expire after the grace period)."""
    assistant = await _lock_wanted(session, user_id)
    await tokens.issue(session, secrets, user_id=user_id, assistant_id=assistant.id)
    await repo.notify_desired_change(session, user_id)
