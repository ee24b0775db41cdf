"""Who is calling the LLM proxy, known without a database round trip on every call.

Every turn of every assistant goes through the proxy, and a round trip to PostgreSQL before each call was
most of what the proxy added to the time to the first byte once the API was busy. So callers are kept here
by token hash, and PostgreSQL keeps them right: triggers on the tables a caller is read from
(`assistant_tokens`, `api_keys`, `user_credits`; migration 0005) notify every API process of each change
as it commits, a balance with its new figures, anything else as "read this user again". A revoked token,
a new or deleted own key and a balance used up take effect in every process within one notification
(milliseconds), so overdraw stays bounded by the calls in flight, as with a read per call.

Nothing is served from here unless the notification connection is up; each (re)connection starts from
empty (notifications sent while it was down are lost), and an entry is read again after `MAX_AGE` anyway.
A read that raced a notification for its user is used for its call but not kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from yourclaw.credits.ledger import Balance
from yourclaw.db import channels
from yourclaw.db.listener import Listener

log = structlog.get_logger(__name__)

MAX_AGE = 60.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class CallerRow:
    user_id: uuid.UUID
    encrypted_key: str | None  # the user's own Anthropic key, when set
    balance: Balance
    expires_at: datetime | None = None  # the token's, when it is being rotated out


@dataclass(frozen=True)
class _Entry:
    user_id: uuid.UUID
    encrypted_key: str | None
    expires_at: datetime | None
    loaded_at: float


class CallerCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._tokens_of: dict[uuid.UUID, set[str]] = {}
        self._balances: dict[uuid.UUID, Balance] = {}
        # Every notification and every flush moves `_changes` on; a read remembers where it was when it
        # started (`stamp`), so its result is kept only if nothing about its user came in meanwhile.
        self._changes = 0
        self._changed_at: dict[uuid.UUID, int] = {}
        self._flushed_at = 0
        self._live = False

    def __len__(self) -> int:
        return len(self._entries)

    def attach(self, listener: Listener) -> None:
        """Be kept right by the process's LISTEN connection; subscribe before the listener starts."""
        listener.subscribe(channels.LLM_CALLERS, self.on_notification)
        listener.on_connection(self.on_connection)

    def get(self, token_hash: str, now: datetime) -> CallerRow | None:
        if not self._live:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        expired = entry.expires_at is not None and entry.expires_at <= now
        if expired or self._clock() - entry.loaded_at > MAX_AGE:
            self._forget_token(token_hash)
            return None
        return CallerRow(entry.user_id, entry.encrypted_key, self._balances[entry.user_id], entry.expires_at)

    def stamp(self) -> int:
        """Taken before reading a caller from the database; handed back to `put`."""
        return self._changes

    def put(self, token_hash: str, row: CallerRow, stamp: int) -> None:
        if not self._live or self._flushed_at > stamp or self._changed_at.get(row.user_id, -1) > stamp:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._flush()
            return
        self._entries[token_hash] = _Entry(row.user_id, row.encrypted_key, row.expires_at, self._clock())
        self._tokens_of.setdefault(row.user_id, set()).add(token_hash)
        self._balances[row.user_id] = row.balance

    # --- what PostgreSQL says -------------------------------------------------------------------

    def on_notification(self, payload: str) -> None:
        """`balance <user id> <total> <used>` or `changed <user id>` (see migration 0005)."""
        kind, _, rest = payload.partition(" ")
        try:
            user_id, *figures = rest.split(" ")
            user = uuid.UUID(user_id)
            balance = Balance(int(figures[0]), int(figures[1])) if kind == "balance" else None
        except (ValueError, IndexError):
            log.warning("llm_caller_notification_ignored", kind=kind)
            return
        self._changes += 1
        if len(self._changed_at) >= MAX_ENTRIES:
            # Too many to track one by one: every read in flight is simply not kept.
            self._changed_at.clear()
            self._flushed_at = self._changes
        self._changed_at[user] = self._changes
        if balance is not None and user in self._balances:
            self._balances[user] = balance
        elif balance is None:
            self._forget_user(user)

    def heard_of(self, user_id: uuid.UUID) -> bool:
        """Whether a notification about this user came in since the cache last started from empty. As
        notifications arrive in commit order, one sent after a change says that the change has arrived."""
        return user_id in self._changed_at

    def on_connection(self, up: bool) -> None:
        self._flush()
        self._live = up

    # --- forgetting -----------------------------------------------------------------------------

    def _forget_token(self, token_hash: str) -> None:
        entry = self._entries.pop(token_hash, None)
        if entry is None:
            return
        tokens = self._tokens_of.get(entry.user_id)
        if tokens is not None:
            tokens.discard(token_hash)
            if not tokens:
                del self._tokens_of[entry.user_id]
                self._balances.pop(entry.user_id, None)

    def _forget_user(self, user_id: uuid.UUID) -> None:
        for token_hash in self._tokens_of.pop(user_id, set()):
            self._entries.pop(token_hash, None)
        self._balances.pop(user_id, None)

    def _flush(self) -> None:
        self._entries.clear()
        self._tokens_of.clear()
        self._balances.clear()
        self._changed_at.clear()
        self._changes += 1
        self._flushed_at = self._changes
