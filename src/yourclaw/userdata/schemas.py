"""What the user's data routes answer."""

from __future__ import annotations

from datetime import datetime

import msgspec


class ExportStatusOut(msgspec.Struct):
    """An export being prepared: ask again (GET) until it answers with the zip."""

    status: str
    requested_at: datetime


class MemoryFileOut(msgspec.Struct):
    """One memory file (its path relative to the assistant's workspace) with its text; `truncated` when the
    snapshot's size cap cut it short (`bytes` is its whole size)."""

    path: str
    text: str
    bytes: int
    truncated: bool


class MemoryRequestOut(msgspec.Struct):
    """A read or a forget the reconciler has yet to do (`path` None with FORGET: everything)."""

    action: str
    path: str | None
    requested_at: datetime


class MemoryOut(msgspec.Struct):
    """The newest snapshot of the assistant's memory files (none yet: `taken_at` None), its age, what is still
    to be done (ask again while `pending` is not empty), and why the last request failed, if it did."""

    files: list[MemoryFileOut]
    files_total: int
    taken_at: datetime | None
    age_seconds: float | None
    pending: list[MemoryRequestOut]
    error: str | None
    max_files: int
    max_bytes: int
