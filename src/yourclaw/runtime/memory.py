"""What the assistant remembers about its user, read or forgotten on its volume by the reconciler (the API
writes `memory_requests`; the reconciler alone talks to the Docker hosts).

OpenClaw's memory is plain Markdown in its workspace (docs: concepts/memory): `MEMORY.md` (long-term facts,
loaded at the start of each private session), `USER.md` (the user's preferences and profile, where present),
`DREAMS.md` (dreaming's diary, where present) and `memory/*.md` (daily notes, `YYYY-MM-DD.md` or
`YYYY-MM-DD-<slug>.md`, today's and yesterday's loaded at the start of a session). Those are what the
dashboard lists and what "forget" deletes; forgetting everything removes the whole `memory/` directory
(with dreaming's own notes on what it recalled). The rest of the workspace is the user's, and stays.

A request is done in order: a forget first removes its paths, then each request reads the files as they are
now into its row (the snapshot the dashboard shows), and the user's older done rows are deleted.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Mapping

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import Assistant, MemoryRequest
from yourclaw.kit.settings import Settings
from yourclaw.runtime import pending_requests
from yourclaw.runtime.container_spec import volume_name
from yourclaw.runtime.host_client import ArchiveTooLarge
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.runtime.volume_files import tar_members

log = structlog.get_logger(__name__)

WORKSPACE = "workspace"
ROOT_FILES = ("MEMORY.md", "USER.md", "DREAMS.md")
DIRECTORY = "memory"
BATCH = 10  # requests done per pass
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,+@()-]*$")
MAX_PATH = 255


def is_memory_path(path: str) -> bool:
    """One of the memory files, named as the snapshot names it (relative to the workspace): a root file, or a
    Markdown file under `memory/` whose every part is a plain name (nothing hidden, nothing that climbs)."""
    if len(path) > MAX_PATH or path != posixpath.normpath(path):
        return False
    if path in ROOT_FILES:
        return True
    parts = path.split("/")
    return (
        len(parts) >= 2
        and parts[0] == DIRECTORY
        and path.endswith(".md")
        and all(_SEGMENT.match(part) for part in parts[1:])
    )


def snapshot(archives: Mapping[str, bytes | None], max_bytes: int, max_files: int) -> tuple[list[dict], int]:
    """The memory files in `archives` (each a tar as Docker names it, relative to the workspace) as the
    dashboard lists them, at most `max_files` and `max_bytes` of text in all (a file cut short says so), and
    how many there are on the volume."""
    found: dict[str, bytes] = {}
    for archive in archives.values():
        for name, data in tar_members(archive) if archive else []:
            if is_memory_path(name):
                found[name] = data
    files = []
    left = max_bytes
    # The root files first; then the notes, newest first (their names start with the date).
    ordered = [p for p in ROOT_FILES if p in found] + sorted((p for p in found if p not in ROOT_FILES), reverse=True)
    for path in ordered[:max_files]:
        data = found[path]
        shown = data[: max(left, 0)]
        left -= len(shown)
        text = shown.decode("utf-8", errors="ignore") if len(shown) < len(data) else data.decode("utf-8", "replace")
        files.append({"path": path, "text": text, "bytes": len(data), "truncated": len(shown) < len(data)})
    return files, len(found)


def forget_paths(path: str | None) -> list[str]:
    """What a forget removes, under the data directory: one memory file, or all of them."""
    if path is None:
        return [f"{WORKSPACE}/{name}" for name in (*ROOT_FILES, DIRECTORY)]
    if not is_memory_path(path):
        raise ValueError(f"not a memory file: {path!r}")
    return [f"{WORKSPACE}/{path}"]


READ_PATHS = [f"{WORKSPACE}/{name}" for name in (*ROOT_FILES, DIRECTORY)]


async def _do(settings: Settings, handle: HostHandle, volume: str, action: str, path: str | None) -> dict:
    if action == "FORGET":
        await handle.call(handle.client.remove_volume_paths, volume, settings.assistant_image, forget_paths(path))
    archives = await handle.call(
        handle.client.archive_volume_paths, volume, settings.assistant_image, READ_PATHS, settings.memory_read_max_bytes
    )
    files, total = snapshot(archives or {}, settings.memory_snapshot_max_bytes, settings.memory_max_files)
    return {"status": "DONE", "files": files, "files_total": total}


async def fulfil_memory_requests(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], handles: Mapping[uuid.UUID, HostHandle]
) -> int:
    """Does the pending requests whose volume's host answered this pass, oldest first (a user's in turn);
    returns how many."""
    async with sessions() as session:
        pending = (
            await session.execute(
                select(
                    MemoryRequest.id,
                    MemoryRequest.user_id,
                    MemoryRequest.action,
                    MemoryRequest.path,
                    Assistant.host_server_id,
                    Assistant.volume,
                )
                .outerjoin(Assistant, Assistant.user_id == MemoryRequest.user_id)
                .where(MemoryRequest.status == "PENDING")
                .order_by(MemoryRequest.requested_at)
                .limit(BATCH)
            )
        ).all()

    async def step(request, handle: HostHandle | None) -> dict[str, object]:
        if handle is None:
            return {"status": "DONE", "files": [], "files_total": 0}  # never placed: nothing remembered
        try:
            return await _do(
                settings, handle, request.volume or volume_name(request.user_id), request.action, request.path
            )
        except ArchiveTooLarge:
            return {
                "status": "FAILED",
                "error": f"The assistant's memory files are larger than can be shown "
                f"({settings.memory_read_max_bytes // (1024 * 1024)} MiB, MEMORY_READ_MAX_BYTES)",
            }
        except ValueError:
            return {"status": "FAILED", "error": "That is not one of the assistant's memory files"}

    def failed(request, exc: Exception) -> None:
        log.warning("memory_request_failed", request_id=str(request.id), error=type(exc).__name__)

    async def record(request, values: dict[str, object]) -> None:
        async with sessions() as session, session.begin():
            finished = await session.scalar(
                update(MemoryRequest)
                .where(MemoryRequest.id == request.id, MemoryRequest.status == "PENDING")
                .values(finished_at=func.now(), **values)
                .returning(MemoryRequest.finished_at)
            )
            if finished is not None:
                # The newest snapshot is the one the dashboard shows, and the newest failure says why the last
                # ask failed: older ones only keep what the user may have asked to forget.
                superseded = ("DONE", "FAILED") if values["status"] == "DONE" else ("FAILED",)
                await session.execute(
                    delete(MemoryRequest).where(
                        MemoryRequest.user_id == request.user_id,
                        MemoryRequest.id != request.id,
                        MemoryRequest.status.in_(superseded),
                    )
                )
        log.info("memory_request_done", request_id=str(request.id), action=request.action, status=values["status"])

    return await pending_requests.fulfil(
        pending,
        handles,
        host_of=lambda request: request.host_server_id,
        step=step,
        failed=failed,
        record=record,
        in_turn=lambda request: request.user_id,  # a user's requests are done in order
    )
