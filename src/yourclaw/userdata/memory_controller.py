"""`/users/me/memory`: what the user's assistant remembers about them (its memory files), and forgetting it.

The files live on the assistant's Docker volume, and the API never talks to an engine: a read or a forget is a
`memory_requests` row the reconciler does on the host (`runtime.memory`), which then keeps the files as they
are in the row. GET answers the newest of those snapshots with its age and what is still pending; the
dashboard asks again while something is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.runtime.memory import is_memory_path
from yourclaw.userdata import memory_repository as repo
from yourclaw.userdata.errors import (
    InvalidMemoryPath,
    MemoryFileNotFound,
    MemoryTargetRequired,
    TooManyMemoryRequests,
)
from yourclaw.userdata.schemas import MemoryFileOut, MemoryOut, MemoryRequestOut

# Requests a user may have waiting at once: the dashboard makes one at a time; more is a loop or a flood.
MAX_PENDING = 5


async def _view(session, user_id, settings: Settings) -> MemoryOut:
    done = await repo.latest_done(session, user_id)
    taken_at = done.finished_at if done is not None else None
    failed = await repo.latest_failed_after(session, user_id, taken_at)
    return MemoryOut(
        files=[MemoryFileOut(**f) for f in (done.files or [])] if done is not None else [],
        files_total=(done.files_total or 0) if done is not None else 0,
        taken_at=taken_at,
        # Never negative: the database's clock and ours may differ by a little.
        age_seconds=max(0.0, (datetime.now(UTC) - taken_at).total_seconds()) if taken_at is not None else None,
        pending=[MemoryRequestOut(r.action, r.path, r.requested_at) for r in await repo.pending(session, user_id)],
        error=failed.error if failed is not None else None,
        max_files=settings.memory_max_files,
        max_bytes=settings.memory_snapshot_max_bytes,
    )


async def _ask(session, user_id, action: str, path: str | None) -> None:
    await repo.lock_user(session, user_id)
    waiting = await repo.pending(session, user_id)
    if any(r.action == action and r.path == path for r in waiting):
        return  # the same ask is already waiting
    if len(waiting) >= MAX_PENDING:
        raise TooManyMemoryRequests("Your assistant's memory is still being updated; try again in a moment")
    await repo.request(session, user_id, action, path)


class MemoryController(Controller):
    path = "/users/me/memory"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def show(self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser) -> MemoryOut:
        """The newest snapshot; the first ask (none yet, none pending) starts a read."""
        view = await _view(db_session, current_user.id, settings)
        if view.taken_at is None and not view.pending and view.error is None:
            await _ask(db_session, current_user.id, "READ", None)
            view = await _view(db_session, current_user.id, settings)
        return view

    @post("/refresh", status_code=202)
    async def refresh(self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser) -> MemoryOut:
        """Reads the memory files off the volume again."""
        await _ask(db_session, current_user.id, "READ", None)
        return await _view(db_session, current_user.id, settings)

    @delete("/", status_code=202)
    async def forget(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        path: Annotated[str | None, QueryParameter()] = None,
        all: Annotated[bool, QueryParameter()] = False,  # noqa: A002  (the query's name)
    ) -> MemoryOut:
        """Deletes one memory file (`?path=`, as the snapshot names it) or all of them (`?all=true`)."""
        if (path is None) == (not all):
            raise MemoryTargetRequired("Say which memory to forget: ?path=<a file> or ?all=true (not both)")
        if path is not None:
            if not is_memory_path(path):
                raise InvalidMemoryPath("That is not one of your assistant's memory files")
            done = await repo.latest_done(db_session, current_user.id)
            listed = {f["path"] for f in (done.files or [])} if done is not None else set()
            complete = done is not None and (done.files_total or 0) <= len(listed)
            if complete and path not in listed:
                raise MemoryFileNotFound("Your assistant has no such memory file (any more)")
        await _ask(db_session, current_user.id, "FORGET", path)
        return await _view(db_session, current_user.id, settings)
