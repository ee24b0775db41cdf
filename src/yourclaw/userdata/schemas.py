"""What the user's data routes answer."""

from __future__ import annotations

from datetime import datetime

import msgspec


class ExportStatusOut(msgspec.Struct):
    """An export being prepared: ask again (GET) until it answers with the zip."""

    status: str
    requested_at: datetime
