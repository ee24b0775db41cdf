"""Request and response shapes for the user's assistant and the model catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec


class AssistantRequest(msgspec.Struct, forbid_unknown_fields=True):
    # Throw away the container and provision again (the volume, and so the conversation, survives).
    recreate: bool = False


class ModelChange(msgspec.Struct, forbid_unknown_fields=True):
    model: str


class AssistantOut(msgspec.Struct):
    """What the user may see: never the host, the container or the token."""

    status: str
    phase: str
    model: str | None
    model_label: str | None
    created_at: datetime | None
    ready_at: datetime | None
    last_message_at: datetime | None
    # A sentence for the user when something is wrong, else null.
    reason: str | None


class ModelOut(msgspec.Struct):
    id: str
    label: str
    summary: str
    default: bool


class ModelsOut(msgspec.Struct):
    models: list[ModelOut]


class AutomationIn(msgspec.Struct, forbid_unknown_fields=True):
    """One of OpenClaw's jobs the assistant set up for its user, as the plugin reports it."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    kind: Literal["one_time", "recurring", "watcher"]
    # When it runs next (a watcher: when it checks next); null when it has no next run.
    next_run_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    enabled: bool = True


class AutomationsIn(msgspec.Struct, forbid_unknown_fields=True):
    # The whole current list: what is not in it is gone.
    automations: list[AutomationIn]


class AutomationsStored(msgspec.Struct):
    count: int
    # Ids not in the previous list, and ids of the previous list not in this one.
    added: int
    removed: int
