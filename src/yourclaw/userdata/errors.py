"""What the user's data routes can refuse."""

from __future__ import annotations

from yourclaw.kit.errors import Conflict, NotFound, TooManyRequests, YourClawError


class ExportFailed(Conflict):
    code = "EXPORT_FAILED"


class ConfirmationRequired(YourClawError):
    code = "CONFIRMATION_REQUIRED"


class MemoryTargetRequired(YourClawError):
    code = "MEMORY_TARGET_REQUIRED"


class InvalidMemoryPath(YourClawError):
    code = "INVALID_MEMORY_PATH"


class MemoryFileNotFound(NotFound):
    code = "MEMORY_FILE_NOT_FOUND"


class TooManyMemoryRequests(TooManyRequests):
    code = "TOO_MANY_MEMORY_REQUESTS"
