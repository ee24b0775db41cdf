"""What the user's data routes can refuse."""

from __future__ import annotations

from yourclaw.kit.errors import Conflict, YourClawError


class ExportFailed(Conflict):
    code = "EXPORT_FAILED"


class ConfirmationRequired(YourClawError):
    code = "CONFIRMATION_REQUIRED"
