"""Routes of the assistant protocol (docs/assistant-protocol.md) beyond the poll itself."""

from __future__ import annotations

from yourclaw.protocol.controller import MediaController, ProtocolController

HANDLERS: list = [ProtocolController, MediaController]
