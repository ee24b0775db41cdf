"""Each assistant's volume is a disk of its own size (the `yourclaw-volumes` plugin the hosts run): an
assistant that writes until it is stopped fills only its own volume. The host keeps its free space and the
other assistants on it keep running and writing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from sqlalchemy import select

from tests.harness.database import truncate
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import subscribe
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer, Outbox
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_MANAGED, volume_name
from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler

pytestmark = pytest.mark.engine
VOLUME_SIZE = 64 * 1024**2
# The writer tries to write this much: unlimited, it would take that from the host.
ATTEMPT_MIB = 2048
# The host's free space must stay above what it was less this. Half the attempt: other work on the machine
# may write meanwhile, which a tighter bound would count against the writer.
HOST_MAY_LOSE = 1024**3


def _free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def _loop_devices_on(directory: Path) -> list[str]:
    listing = json.loads(subprocess.run(["losetup", "-J"], capture_output=True, text=True).stdout or "{}")
    return [d["name"] for d in listing.get("loopdevices", []) if str(d.get("back-file", "")).startswith(str(directory))]


@pytest.fixture
async def plane(engines, standin_image, engine_networks, database_url, sessions, engine, tmp_path):
    """The API and the reconciler with one host (engine e1, which runs the volume plugin), volumes of 64 MiB."""
    port = free_port()
    gateway = engine_networks[engines.e1.name]
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        DOCKER_TLS_DIR=str(engines.tls_dir),
        ASSISTANT_IMAGE=standin_image,
        YOURCLAW_STATE_DIR=str(tmp_path),
        RECONCILE_INTERVAL="1",
        CONTAINER_MEMORY="256m",
        VOLUME_DRIVER="yourclaw-volumes",
        VOLUME_SIZE=str(VOLUME_SIZE),
        WORKSPACE_MEASURE_SECONDS="1",
    )
    async with transaction(sessions) as session:
        session.add(
            HostServer(
                name=engines.e1.name,
                docker_url=engines.e1.docker_url,
                max_containers=50,
                runtime_api_url=f"http://{gateway}:{port}",
            )
        )
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop = asyncio.Event()
    client = engines.e1.client(timeout=60)
    loops_before = set(_loop_devices_on(engines.e1.disk_dir))
    try:
        async with LiveServer(settings, port=port, extra_hosts=(gateway,)) as server:
            task = asyncio.create_task(reconciler.run(stop))
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                yield settings, http, sessions, client
            stop.set()
            await asyncio.wait_for(task, 30)
    finally:
        names = []
        for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_MANAGED}=true"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for volume in client.volumes.list(filters={"label": f"{LABEL_MANAGED}=true"}):
            names.append(volume.name)
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
        client.close()
        await truncate(engine)
    # Nothing left behind: no image of a removed volume, no loop device still attached to one.
    assert not [n for n in names if (engines.e1.disk_dir / f"{n}.img").exists()]
    assert set(_loop_devices_on(engines.e1.disk_dir)) <= loops_before


async def _assistant(http: httpx.AsyncClient, sessions) -> uuid.UUID:
    body = (await http.post("/api/v1/dev/login", json={"email": f"{uuid.uuid4().hex[:10]}@example.com"})).json()
    user_id = uuid.UUID(body["user_id"])
    await subscribe(sessions, user_id)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.post("/api/v1/assistants", headers=headers)).status_code == 202
    return user_id


async def _ready(sessions, user_id: uuid.UUID) -> Assistant:
    async def check():
        async with sessions() as session:
            row = await session.scalar(select(Assistant).where(Assistant.user_id == user_id))
        return row if row and row.status == "READY" and row.phase == "ready" else None

    return await wait_for(check, timeout=60, interval=0.1, message=f"{user_id} to be READY")


def _run(client: docker.DockerClient, container_id: str, script: str) -> tuple[int, str]:
    run = client.api.exec_create(container_id, ["sh", "-c", script], user="1000:1000")
    output = client.api.exec_start(run).decode(errors="replace")
    return client.api.exec_inspect(run["Id"])["ExitCode"], output


async def test_an_assistant_filling_its_disk_leaves_the_host_and_the_others_alone(plane, engines):
    settings, http, sessions, client = plane
    writer_id, other_id = await _assistant(http, sessions), await _assistant(http, sessions)
    writer, other = await _ready(sessions, writer_id), await _ready(sessions, other_id)
    image = engines.e1.disk_dir / f"{volume_name(writer_id)}.img"
    assert image.stat().st_size == VOLUME_SIZE
    free_before = _free_bytes(engines.e1.disk_dir)

    # Writes until the disk stops it: far more than its volume holds.
    fill = f"dd if=/dev/zero of={DATA_DIR}/fill bs=1M count={ATTEMPT_MIB} conv=fsync 2>&1"
    code, output = _run(client, writer.container_id, fill)
    assert code != 0 and "No space left on device" in output

    # The host's free space stayed above the threshold; what the writer holds of it is its volume's size.
    assert _free_bytes(engines.e1.disk_dir) > free_before - HOST_MAY_LOSE
    assert image.stat().st_blocks * 512 <= VOLUME_SIZE
    # The writer is still up (it is its own disk that is full), and the other assistant is unaffected.
    assert client.api.inspect_container(writer.container_id)["State"]["Running"]
    assert client.api.inspect_container(other.container_id)["State"]["Running"]
    code, output = _run(client, other.container_id, f"dd if=/dev/zero of={DATA_DIR}/notes bs=1M count=8 2>&1")
    assert code == 0, output
    async with sessions() as session:
        still = await session.scalar(select(Assistant).where(Assistant.user_id == other_id))
    assert still.status == "READY" and still.container_id == other.container_id

    # The reconciler reads the full disk from the host: the row, /users/me and one WhatsApp notice say so.
    async def measured_full():
        async with sessions() as session:
            row = await session.scalar(select(Assistant).where(Assistant.user_id == writer_id))
        return row if row.workspace_bytes and row.workspace_bytes >= row.workspace_limit_bytes * 0.98 else None

    full = await wait_for(measured_full, timeout=30, message="the full workspace to be measured")
    assert VOLUME_SIZE * 0.8 < full.workspace_limit_bytes <= VOLUME_SIZE
    async with sessions() as session:
        notices = (await session.scalars(select(Outbox.body).where(Outbox.user_id == writer_id))).all()
        others = (await session.scalars(select(Outbox.body).where(Outbox.user_id == other_id))).all()
    assert sum("workspace is full" in body for body in notices) == 1
    assert not any("workspace" in body for body in others)
