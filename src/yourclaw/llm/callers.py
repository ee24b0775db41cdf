"""Who is calling the LLM proxy (their token, own key and balance), known without a database round trip on
every call: a round trip to PostgreSQL before each call was most of what the proxy added to the time to the
first byte once the API was busy. Kept right by notifications as `protocol.token_cache` says; a balance
arrives with its new figures, so a balance used up takes effect in every process within one notification and
overdraw stays bounded by the calls in flight, as with a read per call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from yourclaw.credits.ledger import Balance
from yourclaw.protocol.token_cache import MAX_AGE, TokenCache

__all__ = ["MAX_AGE", "CallerCache", "CallerRow"]


@dataclass(frozen=True)
class CallerRow:
    user_id: uuid.UUID
    encrypted_key: str | None  # the user's own Anthropic key, when set
    balance: Balance
    expires_at: datetime | None = None  # the token's, when it is being rotated out


class CallerCache(TokenCache[str | None]):
    """Token hash -> the caller's own key; their balance once per user, shared by their tokens."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._balances: dict[uuid.UUID, Balance] = {}

    def get(self, token_hash: str, now: datetime) -> CallerRow | None:
        entry = self.lookup(token_hash, now)
        if entry is None:
            return None
        return CallerRow(entry.user_id, entry.value, self._balances[entry.user_id], entry.expires_at)

    def put(self, token_hash: str, row: CallerRow, stamp: int) -> None:
        if self.keep(token_hash, row.user_id, row.encrypted_key, row.expires_at, stamp):
            self._balances[row.user_id] = row.balance

    def _on_balance(self, user_id: uuid.UUID, total: int, used: int) -> None:
        if user_id in self._balances:
            self._balances[user_id] = Balance(total, used)

    def _user_gone(self, user_id: uuid.UUID) -> None:
        self._balances.pop(user_id, None)

    def _flushed(self) -> None:
        self._balances.clear()
