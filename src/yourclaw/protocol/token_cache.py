"""Assistant tokens known to a process without a database round trip on every call: the hot paths an
assistant calls all day (the LLM proxy, the MCP server) keep what they read about a token by its hash, and
PostgreSQL keeps that right. Triggers on the tables a caller is read from (`assistant_tokens`, `api_keys`,
`user_credits`; migration 0005) notify every API process of each change as it commits on
`channels.LLM_CALLERS`: `changed <user id>` ("read this user again": a token revoked or rotated out, an own
key set or deleted) or `balance <user id> <total> <used>` (new credit figures). A change takes effect in
every process within one notification (milliseconds).

Nothing is served unless the notification connection is up; each (re)connection starts from empty
(notifications sent while it was down are lost), an entry is read again after `MAX_AGE` anyway, and one past
its token's expiry is not used. A read that raced a notification for its user is used for its call but not
kept: every notification and flush moves a counter on, and a read remembers where it was when it started
(`stamp`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import structlog

from yourclaw.db import channels
from yourclaw.db.listener import Listener

log = structlog.get_logger(__name__)

MAX_AGE = 60.0
MAX_ENTRIES = 100_000

V = TypeVar("V")


@dataclass(frozen=True)
class Cached(Generic[V]):
    user_id: uuid.UUID
    value: V  # what the user of the cache reads along with the owner (e.g. their own key)
    expires_at: datetime | None  # the token's, when it is being rotated out
    loaded_at: float


class TokenCache(Generic[V]):
    """Token hash -> its owner and a value. Subclasses hear of credit figures (`_on_balance`) and of users
    forgotten and flushes, to keep state of their own per user."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, Cached[V]] = {}
        self._tokens_of: dict[uuid.UUID, set[str]] = {}
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

    def lookup(self, token_hash: str, now: datetime) -> Cached[V] | None:
        if not self._live:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        expired = entry.expires_at is not None and entry.expires_at <= now
        if expired or self._clock() - entry.loaded_at > MAX_AGE:
            self._forget_token(token_hash)
            return None
        return entry

    def stamp(self) -> int:
        """Taken before reading a token's owner from the database; handed back to `keep`."""
        return self._changes

    def keep(self, token_hash: str, user_id: uuid.UUID, value: V, expires_at: datetime | None, stamp: int) -> bool:
        """Whether it was kept (not when a notification about its user came in since `stamp`)."""
        if not self._live or self._flushed_at > stamp or self._changed_at.get(user_id, -1) > stamp:
            return False
        if len(self._entries) >= MAX_ENTRIES:
            self._flush()
            return False
        self._entries[token_hash] = Cached(user_id, value, expires_at, self._clock())
        self._tokens_of.setdefault(user_id, set()).add(token_hash)
        return True

    def heard_of(self, user_id: uuid.UUID) -> bool:
        """Whether a notification about this user came in since the cache last started from empty. As
        notifications arrive in commit order, one sent after a change says that the change has arrived."""
        return user_id in self._changed_at

    # --- what PostgreSQL says -------------------------------------------------------------------

    def on_notification(self, payload: str) -> None:
        kind, _, rest = payload.partition(" ")
        try:
            user_id, *figures = rest.split(" ")
            user = uuid.UUID(user_id)
            balance = (int(figures[0]), int(figures[1])) if kind == "balance" else None
        except (ValueError, IndexError):
            log.warning("token_cache_notification_ignored", kind=kind)
            return
        self._changes += 1
        if len(self._changed_at) >= MAX_ENTRIES:
            # Too many to track one by one: every read in flight is simply not kept.
            self._changed_at.clear()
            self._flushed_at = self._changes
        self._changed_at[user] = self._changes
        if balance is not None:
            self._on_balance(user, *balance)
        else:
            self._forget_user(user)

    def on_connection(self, up: bool) -> None:
        self._flush()
        self._live = up

    # --- what subclasses keep per user ----------------------------------------------------------

    def _on_balance(self, user_id: uuid.UUID, total: int, used: int) -> None:
        """New credit figures for a user (their tokens stay)."""

    def _user_gone(self, user_id: uuid.UUID) -> None:
        """The last of a user's tokens was forgotten."""

    def _flushed(self) -> None:
        """Everything was forgotten."""

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
                self._user_gone(entry.user_id)

    def _forget_user(self, user_id: uuid.UUID) -> None:
        for token_hash in self._tokens_of.pop(user_id, set()):
            self._entries.pop(token_hash, None)
        self._user_gone(user_id)

    def _flush(self) -> None:
        self._entries.clear()
        self._tokens_of.clear()
        self._changed_at.clear()
        self._changes += 1
        self._flushed_at = self._changes
        self._flushed()
