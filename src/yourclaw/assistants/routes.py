"""The routes of assistants: the signed-in user's assistant as desired state, the model catalogue, and the
automations its plugin reports."""

from __future__ import annotations

from yourclaw.assistants.automations_controller import AutomationsController
from yourclaw.assistants.controller import AssistantsController

HANDLERS: list = [AssistantsController, AutomationsController]
