"""Response shapes of the dashboard's conversation view."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class MessageOut(msgspec.Struct):
    id: uuid.UUID
    direction: str
    kind: str
    body: str
    delivery_status: str | None
    created_at: datetime


class MessagesOut(msgspec.Struct):
    messages: list[MessageOut]
    # Pass as `before` for the next (older) page; null on the last page.
    next_before: uuid.UUID | None
    # The assistant is working on the user's message (handed out, reply not yet sent): typing dots.
    assistant_typing: bool = False
