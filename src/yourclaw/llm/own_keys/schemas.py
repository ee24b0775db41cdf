"""Request and response shapes for a user's own LLM key (BYOK). The key goes in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Provider = Literal["ANTHROPIC"]


class ApiKeyIn(msgspec.Struct):
    provider: Provider
    key: str


class ApiKeyOut(msgspec.Struct):
    provider: Provider
    set: bool
    last4: str | None = None
    updated_at: datetime | None = None
