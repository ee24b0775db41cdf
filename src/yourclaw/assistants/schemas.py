"""Request and response shapes for the user's assistant and the model catalogue."""

from __future__ import annotations

from datetime import datetime

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
