"""The routes of assistants: the signed-in user's assistant as desired state, and the model catalogue."""

from __future__ import annotations

from yourclaw.assistants.controller import AssistantsController

HANDLERS: list = [AssistantsController]
