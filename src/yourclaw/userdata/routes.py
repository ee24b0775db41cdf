"""What the user's data adds to the app: its routes under /api/v1."""

from __future__ import annotations

from yourclaw.userdata.controller import UserDataController
from yourclaw.userdata.memory_controller import MemoryController

HANDLERS: list = [UserDataController, MemoryController]
