"""The fleet's part of the user's own data on a real Docker engine over mutual TLS: an export reads the
workspace off the volume through a helper container that never runs (and is gone after), the memory files are
shown through the API and forgotten on the volume, and a deleted account's containers and volume are removed
from the host."""

from __future__ import annotations

import io
import posixpath
import tarfile
import uuid
from contextlib import closing

import anyio
import docker
import pytest
from sqlalchemy import select

from tests.harness.database import truncate
from tests.harness.rows import signed_up
from tests.harness.settings import make_settings
from yourclaw.db.engine import transaction
from yourclaw.db.models import AccountDeletion, Assistant, DataExport, HostServer, User
from yourclaw.llm import catalog
from yourclaw.runtime import memory, user_data
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_MANAGED, LABEL_ROLE, LABEL_USER, volume_name
from yourclaw.runtime.docker_host import DockerHost
from yourclaw.runtime.host_client import ArchiveTooLarge
from yourclaw.runtime.host_handle import HostHandle

pytestmark = pytest.mark.engine

MEMORY = b"# Memory\n- Likes tea.\n"


def _tar(files: dict[str, bytes]) -> bytes:
    """The files and their directories, all the assistant's own (uid 1000) as when it writes them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in sorted({posixpath.dirname(name) for name in files} - {""}):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, 1000, 1000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid = len(data), 1000, 1000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


@pytest.fixture
def volume_of_a_user(engines, tiny_image):
    """A user's volume as an assistant leaves it (workspace with memory files, and openclaw.json beside it),
    and a stopped container of theirs on it."""
    user_id = uuid.uuid4()
    labels = {LABEL_MANAGED: "true", LABEL_USER: str(user_id)}
    with closing(engines.e1.client(timeout=60)) as client:
        client.volumes.create(volume_name(user_id), labels=labels)
        container = client.containers.create(
            tiny_image, ["true"], labels=labels, volumes={volume_name(user_id): {"bind": DATA_DIR, "mode": "rw"}}
        )
        files = {
            "workspace/MEMORY.md": MEMORY,
            "workspace/memory/2026-12-07.md": b"tea\n",
            "openclaw.json": b'{"token": "secret"}',
        }
        assert container.put_archive(DATA_DIR, _tar(files))
        yield user_id, container.id
        for leftover in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_USER}={user_id}"}):
            leftover.remove(force=True)
        try:
            client.volumes.get(volume_name(user_id)).remove(force=True)
        except docker.errors.NotFound:
            pass


def _helpers(engines) -> list:
    with closing(engines.e1.client(timeout=60)) as client:
        return client.containers.list(all=True, sparse=True, filters={"label": LABEL_ROLE})


def test_the_workspace_is_read_without_running_anything(engines, tiny_image, volume_of_a_user):
    user_id, _ = volume_of_a_user
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir)
    try:
        archive = host.archive_volume(volume_name(user_id), tiny_image, "workspace", 10 * 1024 * 1024)
        assert _members(archive) == {"workspace/MEMORY.md": MEMORY, "workspace/memory/2026-12-07.md": b"tea\n"}
        assert host.archive_volume(volume_name(uuid.uuid4()), tiny_image, "workspace", 1024) is None
        with pytest.raises(ArchiveTooLarge):
            host.archive_volume(volume_name(user_id), tiny_image, "workspace", 100)
    finally:
        host.close()
    assert _helpers(engines) == [], "every helper container is removed"


async def test_an_export_is_fulfilled_and_a_deleted_account_purged(
    engines, tiny_image, volume_of_a_user, sessions, engine, database_url
):
    user_id, container_id = volume_of_a_user
    settings = make_settings(database_url, ASSISTANT_IMAGE=tiny_image, DOCKER_TLS_DIR=str(engines.tls_dir))
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir)
    try:
        async with transaction(sessions) as session:
            row = HostServer(name="e1", docker_url=engines.e1.docker_url)
            session.add(row)
            session.add(User(id=user_id, email="volume@example.com"))
            await session.flush()
            session.add(Assistant(user_id=user_id, model=catalog.DEFAULT_MODEL, host_server_id=row.id))
            session.add(DataExport(user_id=user_id))
        handles = {row.id: HostHandle(row.id, host, anyio.CapacityLimiter(4))}

        assert await user_data.fulfil_exports(settings, sessions, handles) == 1
        async with sessions() as session:
            export = await session.scalar(select(DataExport).where(DataExport.user_id == user_id))
        assert export.status == "READY" and _members(export.workspace_tar)["workspace/MEMORY.md"] == MEMORY

        async with transaction(sessions) as session:
            await session.delete(await session.get(User, user_id))
            session.add(AccountDeletion(user_id=user_id))
        assert await user_data.purge_deleted_accounts(settings, sessions, handles, all_hosts_answered=True) == 1
        with closing(engines.e1.client(timeout=60)) as client:
            with pytest.raises(docker.errors.NotFound):
                client.containers.get(container_id)
            with pytest.raises(docker.errors.NotFound):
                client.volumes.get(volume_name(user_id))
        async with sessions() as session:
            assert (await session.get(AccountDeletion, user_id)).fleet_purged_at is not None
    finally:
        host.close()
        await truncate(engine)


async def test_memory_is_shown_through_the_api_and_forgotten_on_the_volume(
    engines, tiny_image, volume_of_a_user, sessions, client, database_url
):
    volume_owner, _ = volume_of_a_user
    volume = volume_name(volume_owner)
    settings = make_settings(database_url, ASSISTANT_IMAGE=tiny_image, DOCKER_TLS_DIR=str(engines.tls_dir))
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir)
    headers, user_id = await signed_up(client)
    try:
        async with transaction(sessions) as session:
            row = HostServer(name="e1", docker_url=engines.e1.docker_url)
            session.add(row)
            await session.flush()
            session.add(Assistant(user_id=user_id, model=catalog.DEFAULT_MODEL, host_server_id=row.id, volume=volume))
        handles = {row.id: HostHandle(row.id, host, anyio.CapacityLimiter(4))}

        async def after_the_reconciler() -> dict:
            assert await memory.fulfil_memory_requests(settings, sessions, handles) == 1
            answer = await client.get("/api/v1/users/me/memory", headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["pending"] == [] and answer.json()["error"] is None
            return answer.json()

        first = await client.get("/api/v1/users/me/memory", headers=headers)
        assert first.json()["pending"][0]["action"] == "READ"
        shown = await after_the_reconciler()
        assert [(f["path"], f["text"]) for f in shown["files"]] == [
            ("MEMORY.md", MEMORY.decode()),
            ("memory/2026-12-07.md", "tea\n"),
        ]

        forget = await client.delete(
            "/api/v1/users/me/memory", params={"path": "memory/2026-12-07.md"}, headers=headers
        )
        assert forget.status_code == 202, forget.text
        assert [f["path"] for f in (await after_the_reconciler())["files"]] == ["MEMORY.md"]
        assert host.archive_volume(volume, tiny_image, "workspace/memory/2026-12-07.md", 1 << 20) is None

        everything = await client.delete("/api/v1/users/me/memory", params={"all": "true"}, headers=headers)
        assert everything.status_code == 202, everything.text
        assert (await after_the_reconciler())["files"] == []
        left = _members(host.archive_volume(volume, tiny_image, "workspace", 1 << 20) or b"")
        assert left == {}, "no memory file is left in the workspace"
        assert _members(host.archive_volume(volume, tiny_image, "openclaw.json", 1 << 20)) == {
            "openclaw.json": b'{"token": "secret"}'
        }, "nothing but the memory is touched"
    finally:
        host.close()
    assert _helpers(engines) == [], "every helper container is removed"
