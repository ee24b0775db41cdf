"""What the operator's host commands can refuse (`yourclaw hosts ...`)."""

from __future__ import annotations

from yourclaw.kit.errors import Conflict, NotFound, Unprocessable


class InvalidHost(Unprocessable):
    code = "INVALID_HOST"


class HostUnreachable(Unprocessable):
    code = "HOST_UNREACHABLE"


class HostExists(Conflict):
    code = "HOST_EXISTS"


class NoSuchHost(NotFound):
    code = "NO_SUCH_HOST"
