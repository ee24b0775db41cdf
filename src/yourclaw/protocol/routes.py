"""The routes of the assistant protocol (docs/assistant-protocol.md): the long poll, leases and acks,
outbound messages and media uploads, and the public signed media URL."""

from __future__ import annotations

from yourclaw.protocol.controller import MediaController, ProtocolController
from yourclaw.protocol.poll_controller import PollController

HANDLERS: list = [PollController, ProtocolController, MediaController]
