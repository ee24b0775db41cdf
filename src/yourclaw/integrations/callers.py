"""Which user an assistant token belongs to, known to the MCP server without a database round trip on every
tool call (the lookup was a good share of what the server added to a call).

Kept right the way the LLM proxy's callers are (`llm.callers`): the triggers of migration 0005 notify every
API process when an assistant token is updated (revoked, rotated out) or deleted, as "read this user
again", and the entry goes. Nothing is served unless the notification connection is up; each (re)connection
starts from empty, an entry is read again after `MAX_AGE` anyway, and one past its token's expiry is not
used. A read that raced a notification for its user is used for its call but not kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from yourclaw.db import channels
from yourclaw.db.listener import Listener

log = structlog.get_logger(__name__)

MAX_AGE = 60.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class _Entry:
    user_id: uuid.UUID
    expires_at: datetime | None  # the token's, when it is being rotated out
    loaded_at: float


class TokenOwners:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._tokens_of: dict[uuid.UUID, set[str]] = {}
        # Every notification and flush moves `_changes` on; a read keeps its result only if nothing about
        # its user came in since its `stamp`.
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

    def get(self, token_hash: str, now: datetime) -> uuid.UUID | None:
        if not self._live:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        expired = entry.expires_at is not None and entry.expires_at <= now
        if expired or self._clock() - entry.loaded_at > MAX_AGE:
            self._forget_token(token_hash)
            return None
        return entry.user_id

    def stamp(self) -> int:
        """Taken before reading an owner from the database; handed back to `put`."""
        return self._changes

    def put(self, token_hash: str, user_id: uuid.UUID, expires_at: datetime | None, stamp: int) -> None:
        if not self._live or self._flushed_at > stamp or self._changed_at.get(user_id, -1) > stamp:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._flush()
            return
        self._entries[token_hash] = _Entry(user_id, expires_at, self._clock())
        self._tokens_of.setdefault(user_id, set()).add(token_hash)

    def on_notification(self, payload: str) -> None:
        """`changed <user id>` forgets that user's tokens; `balance ...` (credits) says nothing about tokens."""
        kind, _, rest = payload.partition(" ")
        if kind != "changed":
            return
        try:
            user = uuid.UUID(rest.split(" ")[0])
        except ValueError:
            log.warning("mcp_caller_notification_ignored", kind=kind)
            return
        self._changes += 1
        if len(self._changed_at) >= MAX_ENTRIES:
            self._changed_at.clear()
            self._flushed_at = self._changes
        self._changed_at[user] = self._changes
        for token_hash in self._tokens_of.pop(user, set()):
            self._entries.pop(token_hash, None)

    def on_connection(self, up: bool) -> None:
        self._flush()
        self._live = up

    def _forget_token(self, token_hash: str) -> None:
        entry = self._entries.pop(token_hash, None)
        if entry is None:
            return
        tokens = self._tokens_of.get(entry.user_id)
        if tokens is not None:
            tokens.discard(token_hash)
            if not tokens:
                del self._tokens_of[entry.user_id]

    def _flush(self) -> None:
        self._entries.clear()
        self._tokens_of.clear()
        self._changed_at.clear()
        self._changes += 1
        self._flushed_at = self._changes
