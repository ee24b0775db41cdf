"""The zip a user downloads: what we hold about them as JSON (profile, messages, usage) and their assistant's
workspace (its memory files, MEMORY.md and memory/, and what else it keeps there) as files."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.runtime.volume_files import tar_members
from yourclaw.userdata import repository as repo

README = """Your YourClaw data, as of {at}.

profile.json   your account, WhatsApp number, subscription, assistant and connected services
messages.json  every WhatsApp message between you and your assistant that we keep
usage.json     messages and model use per day, and your credits with every change to them
workspace/     your assistant's own files: what it remembers (MEMORY.md, memory/) and what it keeps
"""


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _json(data: object) -> bytes:
    return json.dumps(data, default=_plain, indent=2, ensure_ascii=False).encode()


async def sections(session: AsyncSession, user_id: uuid.UUID) -> dict[str, dict[str, list[dict]]]:
    out: dict[str, dict[str, list[dict]]] = {}
    for model, section in repo.OWNED.items():
        if section is not None:
            out.setdefault(section, {})[model.__tablename__] = await repo.rows_of(session, model, user_id)
    return out


def _workspace_files(workspace_tar: bytes) -> list[tuple[str, bytes]]:
    """The workspace's files, under `workspace/` in the zip."""
    return [(f"workspace/{name.removeprefix('workspace/')}", data) for name, data in tar_members(workspace_tar)]


async def build_zip(session: AsyncSession, user_id: uuid.UUID, workspace_tar: bytes | None, at: datetime) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README.format(at=at.isoformat()))
        for section, tables in (await sections(session, user_id)).items():
            archive.writestr(f"{section}.json", _json(tables))
        for name, data in _workspace_files(workspace_tar) if workspace_tar else []:
            archive.writestr(name, data)
    return buffer.getvalue()
