"""The shape the reconciler's user-data work shares (memory requests, exports, backups): rows waiting on a
user's volume, each done against the host that holds it when that host answered this pass, one at a time, in
the order given. A row whose host did not answer, or whose step failed, is left for the next pass; a failure
never stops the rows after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from yourclaw.runtime.host_handle import HostHandle

Row = TypeVar("Row")
Outcome = TypeVar("Outcome")


async def fulfil(
    rows: Iterable[Row],
    handles: Mapping[uuid.UUID, HostHandle],
    *,
    host_of: Callable[[Row], uuid.UUID | None],
    step: Callable[[Row, HostHandle | None], Awaitable[Outcome]],
    failed: Callable[[Row, Exception], None],
    record: Callable[[Row, Outcome], Awaitable[None]] | None = None,
    in_turn: Callable[[Row], Hashable] | None = None,
) -> int:
    """Runs `step(row, handle)` for each row whose host answered (`handles`), or with None for a row never
    placed (no host: nothing on a volume), then `record(row, outcome)`; returns how many were done.

    A step that raises is reported to `failed` (which logs it, by ids only) and tried again next pass; a
    failure to record is not caught (the pass's task logs it). With `in_turn`, rows with the same key are done
    in order: once one waits, the ones after it wait too."""
    done = 0
    waiting: set[Hashable] = set()
    for row in rows:
        turn = in_turn(row) if in_turn is not None else None
        if in_turn is not None and turn in waiting:
            continue
        handle = None
        if (host_id := host_of(row)) is not None and (handle := handles.get(host_id)) is None:
            if in_turn is not None:
                waiting.add(turn)
            continue  # its host did not answer this pass: the next one tries again
        try:
            outcome = await step(row, handle)
        except Exception as exc:  # noqa: BLE001  (tried again next pass; one row never stops the rest)
            failed(row, exc)
            if in_turn is not None:
                waiting.add(turn)
            continue
        if record is not None:
            await record(row, outcome)
        done += 1
    return done
