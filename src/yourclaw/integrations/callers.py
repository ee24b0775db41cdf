"""Which user an assistant token belongs to, known to the MCP server without a database round trip on every
tool call (the lookup was a good share of what the server added to a call). Kept right by notifications as
`protocol.token_cache` says: a token revoked, rotated out or deleted is forgotten within one notification;
credit figures say nothing about tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from yourclaw.protocol.token_cache import MAX_AGE, TokenCache

__all__ = ["MAX_AGE", "TokenOwners"]


class TokenOwners(TokenCache[None]):
    def get(self, token_hash: str, now: datetime) -> uuid.UUID | None:
        entry = self.lookup(token_hash, now)
        return None if entry is None else entry.user_id

    def put(self, token_hash: str, user_id: uuid.UUID, expires_at: datetime | None, stamp: int) -> None:
        self.keep(token_hash, user_id, None, expires_at, stamp)
