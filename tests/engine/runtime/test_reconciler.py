"""The reconciler against two real Docker engines over mutual TLS, with stand-in assistants that poll
the real API from inside their containers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import tarfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import docker
import httpx
import pytest
from sqlalchemy import select, update

from tests.harness.database import truncate
from tests.harness.live_server import LiveServer
from tests.harness.ports import free_port
from tests.harness.rows import subscribe
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.assistants import service as assistants_service
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, HostServer, Outbox
from yourclaw.kit.crypto import SecretBox
from yourclaw.runtime.apply import READY_MESSAGE
from yourclaw.runtime.container_spec import DATA_DIR, LABEL_MANAGED, LABEL_USER, container_name, volume_name
from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler

pytestmark = pytest.mark.engine
READY_TIMEOUT = 60


@dataclass
class ControlPlane:
    settings: object
    client: httpx.AsyncClient
    reconciler: Reconciler
    sessions: object
    e1: docker.DockerClient
    e2: docker.DockerClient
    host_ids: dict[str, uuid.UUID]

    async def sign_in(self) -> tuple[dict, uuid.UUID]:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        body = (await self.client.post("/api/v1/dev/login", json={"email": email})).json()
        user_id = uuid.UUID(body["user_id"])
        await subscribe(self.sessions, user_id)  # as a paid checkout's webhooks would leave it
        return {"Authorization": f"Bearer {body['access_token']}"}, user_id

    async def row(self, user_id: uuid.UUID) -> Assistant:
        async with self.sessions() as session:
            return await session.scalar(select(Assistant).where(Assistant.user_id == user_id))

    async def ready(self, user_id: uuid.UUID, *, other_than: str | None = None) -> Assistant:
        async def check():
            row = await self.row(user_id)
            if row and row.status == "READY" and row.phase == "ready" and row.instance_id != other_than:
                return row
            return None

        return await wait_for(check, timeout=READY_TIMEOUT, interval=0.1, message=f"{user_id} to be READY")

    def engine_of(self, row: Assistant) -> docker.DockerClient:
        return self.e1 if row.host_server_id == self.host_ids["yc-e1"] else self.e2


@pytest.fixture
async def cp(engines, standin_image, engine_networks, database_url, sessions, engine, tmp_path, request):
    port = free_port()
    overrides = getattr(request, "param", {})
    gateways = (engine_networks[engines.e1.name], engine_networks[engines.e2.name])
    settings = make_settings(
        database_url,
        API_URL=f"http://127.0.0.1:{port}",
        DOCKER_TLS_DIR=str(engines.tls_dir),
        ASSISTANT_IMAGE=standin_image,
        YOURCLAW_STATE_DIR=str(tmp_path),
        RECONCILE_INTERVAL="1",
        ORPHAN_GRACE_SECONDS="2",
        VOLUME_RETENTION_DAYS=str(6 / 86400),
        WORKER_MAX_ATTEMPTS="2",
        **{"CONTAINER_MEMORY": "256m", **overrides},
    )
    host_ids = {}
    async with transaction(sessions) as session:
        for engine_, gateway in zip((engines.e1, engines.e2), gateways, strict=True):
            host = HostServer(
                name=engine_.name,
                docker_url=engine_.docker_url,
                max_containers=50,
                runtime_api_url=f"http://{gateway}:{port}",
            )
            session.add(host)
            await session.flush()
            host_ids[engine_.name] = host.id
    reconciler = Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings))
    stop = asyncio.Event()
    e1, e2 = engines.e1.client(timeout=60), engines.e2.client(timeout=60)
    try:
        async with LiveServer(settings, port=port, extra_hosts=gateways) as server:
            task = asyncio.create_task(reconciler.run(stop))
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                yield ControlPlane(settings, client, reconciler, sessions, e1, e2, host_ids)
            stop.set()
            await asyncio.wait_for(task, 30)
    finally:
        for client in (e1, e2):
            for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_MANAGED}=true"}):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
            for volume in client.volumes.list(filters={"label": f"{LABEL_MANAGED}=true"}):
                with contextlib.suppress(docker.errors.NotFound):
                    volume.remove(force=True)
            client.close()
        await truncate(engine)


async def _create(cp: ControlPlane) -> tuple[dict, uuid.UUID]:
    headers, user_id = await cp.sign_in()
    response = await cp.client.post("/api/v1/assistants", headers=headers)
    assert response.status_code == 202, response.text
    return headers, user_id


def _inspect(client: docker.DockerClient, container_id: str) -> dict:
    return client.api.inspect_container(container_id)


async def test_provision_to_ready_locked_down_and_unpublished(cp):
    headers, user_id = await _create(cp)
    row = await cp.ready(user_id)
    info = _inspect(cp.engine_of(row), row.container_id)
    assert info["Name"] == f"/{container_name(user_id)}"
    assert info["Config"]["User"] == "1000:1000"
    assert info["Config"]["Labels"][LABEL_USER] == str(user_id)
    host_config = info["HostConfig"]
    assert host_config["ReadonlyRootfs"] and host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host_config["SecurityOpt"] and host_config["Init"]
    assert host_config["PidsLimit"] == 512 and host_config["NanoCpus"] == 1_000_000_000
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    assert host_config["LogConfig"]["Config"]["max-size"] == "10m"
    assert not host_config.get("PortBindings") and not info["NetworkSettings"]["Ports"]
    assert "/tmp" in host_config["Tmpfs"]
    # The container's own health check agrees (the second signal).
    await wait_for(
        lambda: _inspect(cp.engine_of(row), row.container_id)["State"].get("Health", {}).get("Status") == "healthy",
        timeout=30,
        message="the container to be healthy",
    )
    async with cp.sessions() as session:
        ready = (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id))).all()
    assert ready == [READY_MESSAGE] and READY_MESSAGE.startswith("Your assistant is ready! Say hi.\n")

    # POST again never recreates.
    assert (await cp.client.post("/api/v1/assistants", headers=headers)).status_code == 202
    for _ in range(3):
        await cp.reconciler.run_pass()
    assert (await cp.row(user_id)).container_id == row.container_id


async def test_model_change_and_token_rotation_apply_in_place(cp):
    headers, user_id = await _create(cp)
    row = await cp.ready(user_id)
    patched = await cp.client.patch("/api/v1/assistants", json={"model": "anthropic/claude-opus-5"}, headers=headers)
    assert patched.status_code == 202

    async def generation(expected: int):
        current = await cp.row(user_id)
        return current.observed_generation == expected and current.phase == "ready" and current

    after_model = await wait_for(lambda: generation(row.desired_generation + 1), timeout=READY_TIMEOUT)
    assert after_model.container_id == row.container_id

    async with transaction(cp.sessions) as session:
        await assistants_service.rotate_token(session, SecretBox(cp.settings.fernet_keys), user_id)
    after_rotation = await wait_for(lambda: generation(row.desired_generation + 2), timeout=READY_TIMEOUT)
    assert after_rotation.container_id == row.container_id
    config = _read_config(cp.engine_of(row), row.container_id)
    assert '"anthropic/claude-opus-5"' in config and f'"generation": {row.desired_generation + 2}' in config


def _read_config(client: docker.DockerClient, container_id: str) -> str:
    stream, _ = client.api.get_archive(container_id, f"{DATA_DIR}/openclaw.json")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.next()).read().decode()


async def test_image_change_recreates_and_the_volume_survives(cp, standin_image_v2):
    _, user_id = await _create(cp)
    row = await cp.ready(user_id)
    client = cp.engine_of(row)
    marker = client.api.exec_create(row.container_id, ["sh", "-c", f"echo kept > {DATA_DIR}/workspace/memory.md"])
    client.api.exec_start(marker)

    async with transaction(cp.sessions) as session:
        await session.execute(update(Assistant).where(Assistant.user_id == user_id).values(image=standin_image_v2))
    cp.reconciler.wake()

    async def recreated():
        current = await cp.row(user_id)
        return current.container_id != row.container_id and current.phase == "ready" and current

    after = await wait_for(recreated, timeout=READY_TIMEOUT, message="the recreated container to be READY")
    assert _inspect(client, after.container_id)["Config"]["Image"] == standin_image_v2
    with pytest.raises(docker.errors.NotFound):
        _inspect(client, row.container_id)
    run = client.api.exec_create(after.container_id, ["cat", f"{DATA_DIR}/workspace/memory.md"])
    assert client.api.exec_start(run).strip() == b"kept"


@pytest.mark.parametrize("mishap", ["kill", "stop", "remove"])
async def test_container_broken_behind_our_back_comes_back_ready(cp, mishap):
    _, user_id = await _create(cp)
    row = await cp.ready(user_id)
    client = cp.engine_of(row)
    if mishap == "kill":
        client.api.kill(row.container_id)
    elif mishap == "stop":
        client.api.stop(row.container_id, timeout=1)
    else:
        client.api.remove_container(row.container_id, force=True)
    back = await cp.ready(user_id, other_than=row.instance_id)
    assert (back.container_id == row.container_id) is (mishap != "remove")


async def test_orphans_are_removed(cp):
    stranger = uuid.uuid4()
    orphan = cp.e2.api.create_container(
        "yourclaw-standin:test", name=f"yourclaw-{stranger}", labels={LABEL_MANAGED: "true", LABEL_USER: str(stranger)}
    )["Id"]
    unlabelled = cp.e2.api.create_container("yourclaw-standin:test", name=f"someone-else-{stranger.hex[:8]}")["Id"]
    try:

        def gone() -> bool:
            try:
                _inspect(cp.e2, orphan)
            except docker.errors.NotFound:
                return True
            return False

        await wait_for(gone, timeout=30, message="the orphan to be removed")
        assert _inspect(cp.e2, unlabelled)  # not ours: never touched
    finally:
        cp.e2.api.remove_container(unlabelled, force=True)


async def test_delete_leaves_nothing_running_and_the_volume_lives_for_the_retention_period(cp):
    headers, user_id = await _create(cp)
    row = await cp.ready(user_id)
    client = cp.engine_of(row)
    assert (await cp.client.delete("/api/v1/assistants", headers=headers)).status_code == 202

    def container_gone() -> bool:
        return not client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_USER}={user_id}"})

    await wait_for(container_gone, timeout=30, message="the container to be removed")
    deleted_at = datetime.now(UTC)
    assert client.volumes.get(volume_name(user_id))  # kept for the retention period (6 s here)
    await wait_for(
        lambda: (cp.reconciler.__setattr__("_last_volume_pass", 0.0), _volume_gone(client, user_id))[1],
        timeout=30,
        message="the volume to be removed after the retention period",
    )
    assert (datetime.now(UTC) - deleted_at).total_seconds() >= 5
    assert (await cp.row(user_id)).phase == "none"


def _volume_gone(client: docker.DockerClient, user_id: uuid.UUID) -> bool:
    try:
        client.volumes.get(volume_name(user_id))
    except docker.errors.NotFound:
        return True
    return False


async def test_repeated_provisioning_failures_end_in_error_with_a_useful_reason(cp):
    headers, user_id = await _create(cp)
    async with transaction(cp.sessions) as session:
        await session.execute(
            update(Assistant).where(Assistant.user_id == user_id).values(image="yourclaw-missing:nope")
        )
    cp.reconciler.wake()

    async def errored():
        current = await cp.row(user_id)
        return current.status == "ERROR" and current

    row = await wait_for(errored, timeout=60, message="ERROR after repeated failures")
    assert row.attempts == 2 and "yourclaw-missing:nope" in row.last_error
    view = (await cp.client.get("/api/v1/assistants", headers=headers)).json()
    assert view["status"] == "ERROR" and view["reason"]
    async with cp.sessions() as session:
        bodies = (await session.scalars(select(Outbox.body).where(Outbox.user_id == user_id))).all()
    assert sum("could not start" in b for b in bodies) == 1
    for client in (cp.e1, cp.e2):
        assert not client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_USER}={user_id}"})


class Blackhole:
    """A "host" that accepts connections and never answers, as an engine that hangs does."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.held.append(self.sock.accept()[0])

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


async def test_a_silent_host_does_not_stall_the_other_hosts(cp):
    hole = Blackhole()
    try:
        async with transaction(cp.sessions) as session:
            dead = HostServer(name="yc-silent", docker_url=f"tcp://127.0.0.1:{hole.port}", max_containers=50)
            session.add(dead)
            await session.flush()
            dead_id = dead.id
        # Someone already placed there: their state becomes unknown, not failed. Their row is made and
        # placed in one transaction: the running reconciler must never see it unplaced, or it places it on
        # a live engine itself, and its own writes then undo ours.
        _, stuck_user = await cp.sign_in()
        async with transaction(cp.sessions) as session:
            await assistants_service.want(session, SecretBox(cp.settings.fernet_keys), stuck_user)
            await session.execute(
                update(Assistant)
                .where(Assistant.user_id == stuck_user)
                .values(host_server_id=dead_id, status="READY", phase="ready", container_id="0" * 64)
            )
        started = asyncio.get_running_loop().time()
        _, user_id = await _create(cp)
        row = await cp.ready(user_id)
        assert row.host_server_id != dead_id
        assert asyncio.get_running_loop().time() - started < 30

        async def unknown():
            stuck = await cp.row(stuck_user)
            return stuck.phase == "unknown" and stuck.status == "READY"

        await wait_for(unknown, timeout=30, message="the silent host's assistant to be unknown")
        async with cp.sessions() as session:
            host = await session.get(HostServer, dead_id)
        assert host.reachable is False and host.last_error
    finally:
        hole.close()


async def test_no_host_port_is_published_by_any_assistant(cp):
    users = [await _create(cp) for _ in range(3)]
    for _, user_id in users:
        await cp.ready(user_id)
    for client in (cp.e1, cp.e2):
        for container in client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"}):
            assert container["Ports"] == []


@pytest.mark.parametrize("cp", [{"CONTAINER_MEMORY": "8m"}], indirect=True)
async def test_a_crash_loop_shows_as_a_phase_with_its_reason(cp):
    headers, user_id = await _create(cp)

    async def looping():
        row = await cp.row(user_id)
        return row.phase == "crash_loop" and row

    row = await wait_for(looping, timeout=150, message="the crash loop to be seen")
    assert "out of memory" in row.phase_reason or "crashed" in row.phase_reason
    view = (await cp.client.get("/api/v1/assistants", headers=headers)).json()
    assert view["phase"] == "crash_loop" and view["reason"]
