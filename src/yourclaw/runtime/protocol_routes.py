"""Routes of the assistant protocol (docs/assistant-protocol.md) beyond the poll itself."""

from __future__ import annotations

HANDLERS: list = []
