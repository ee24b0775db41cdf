"""The stand-in assistant image, run the way the control plane will run assistants: created from
`ContainerSpec.create_kwargs()`, its config put on the volume before start, polling a control plane that
listens on the `yourclaw` network's gateway."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import docker
import docker.errors
import pytest

from tests.harness.images import VARIANT_LABEL
from tests.harness.settings import make_settings
from yourclaw.runtime.container_spec import CONTAINER_USER, DATA_DIR, NETWORK, spec_for
from yourclaw.standins.assistant import HEALTHCHECK_CMD

if TYPE_CHECKING:
    from .conftest import Engines


pytestmark = pytest.mark.engine

TOKEN = "yca_test"
INBOUND = "/api/v1/runtime/inbound"
# How long the fake control plane holds a poll before its 204 (the real one holds up to `wait` seconds).
HOLD_S = 1.0
DEADLINE_S = 60.0


class FakeControlPlane:
    """`GET /api/v1/runtime/inbound` with nothing queued: held a moment, then 204. Records every poll."""

    def __init__(self, host: str) -> None:
        self.polls: list[dict[str, str]] = []
        self._changed = threading.Condition()
        self._closing = threading.Event()
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?", 1)[0] != INBOUND:
                    self._answer(404)
                    return
                plane._record(
                    {
                        "path": self.path,
                        "client": self.client_address[0],
                        "authorization": self.headers.get("Authorization", ""),
                        "generation": self.headers.get("X-Config-Generation", ""),
                        "instance": self.headers.get("X-Instance-Id", ""),
                    }
                )
                plane._closing.wait(HOLD_S)
                self._answer(204)

            def _answer(self, code: int) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the stand-in cuts a held poll when its config changes

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)

    def __enter__(self) -> FakeControlPlane:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def _record(self, poll: dict[str, str]) -> None:
        with self._changed:
            self.polls.append(poll)
            self._changed.notify_all()

    def wait_for_poll(self, match: Callable[[dict[str, str]], bool], timeout: float = DEADLINE_S) -> dict[str, str]:
        with self._changed:
            found = self._changed.wait_for(lambda: next((p for p in self.polls if match(p)), None), timeout)
        if found is None:
            raise AssertionError(f"no matching poll within {timeout:.0f} s; polls seen: {self.polls[-5:]}")
        return found


def openclaw_json(api_url: str, user_id: uuid.UUID, generation: int) -> dict:
    return {
        "channels": {"yourclaw": {"apiUrl": api_url, "token": TOKEN, "userId": str(user_id), "generation": generation}}
    }


def put_config(container: docker.models.containers.Container, doc: dict) -> None:
    """Write openclaw.json onto the volume, owned by the container's user and private to it."""
    data = json.dumps(doc, indent=2).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("openclaw.json")
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o600, 1000, 1000, time.time()
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(DATA_DIR, buffer.getvalue())


def wait_for_health(
    client: docker.DockerClient, container: docker.models.containers.Container, want: str = "healthy"
) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        state = client.api.inspect_container(container.id)["State"]
        health = state.get("Health") or {}
        if health.get("Status") == want:
            return health
        if not state.get("Running") or time.monotonic() >= deadline:
            raise AssertionError(
                f"health {health.get('Status')!r}, not {want!r} (running: {state.get('Running')}); "
                f"last checks: {(health.get('Log') or [])[-2:]}\n{container.logs().decode(errors='replace')[-3000:]}"
            )
        time.sleep(0.2)


def run_in(container: docker.models.containers.Container, script: str) -> tuple[int, str]:
    code, output = container.exec_run(["sh", "-c", script])
    return code, output.decode(errors="replace")


@contextmanager
def created(client: docker.DockerClient, kwargs: dict) -> Iterator[docker.models.containers.Container]:
    """The container as the control plane creates it; removed afterwards with its named volume."""
    volumes = list(kwargs["volumes"])
    container = client.containers.create(**kwargs)
    try:
        yield container
    finally:
        container.remove(force=True)
        for name in volumes:
            try:
                client.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass


@pytest.mark.parametrize("which", ["e1", "e2"])
def test_image_carries_the_contract(engines: Engines, standin_image: str, standin_image_v2: str, which: str) -> None:
    with closing(getattr(engines, which).client()) as client:
        image, v2 = client.images.get(standin_image), client.images.get(standin_image_v2)

    config = image.attrs["Config"]
    assert config["User"] == "1000:1000"
    assert "HOME=/home/node" in config["Env"]
    assert config["Cmd"] == ["python3", "-u", "/app/standin.py"]
    assert config["Labels"]["org.opencontainers.image.title"] == "yourclaw-standin"
    assert config["Healthcheck"] == {
        "Test": ["CMD", *HEALTHCHECK_CMD],
        "Interval": 2_000_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 5_000_000_000,
        "Retries": 3,
    }
    assert v2.id != image.id
    assert v2.labels[VARIANT_LABEL] == "v2" and VARIANT_LABEL not in image.labels
    assert v2.attrs["Config"]["Cmd"] == config["Cmd"]


@pytest.mark.parametrize("which", ["e1", "e2"])
def test_standin_runs_as_the_control_plane_creates_it(
    engines: Engines, engine_networks: dict[str, str], standin_image: str, which: str
) -> None:
    engine = getattr(engines, which)
    gateway = engine_networks[engine.name]
    user_id = uuid.uuid4()
    spec = spec_for(make_settings("postgresql://unused@127.0.0.1/x"), user_id, image=standin_image)
    kwargs = spec.create_kwargs()
    assert kwargs["network"] == NETWORK

    with (
        closing(engine.client(timeout=60)) as client,
        FakeControlPlane(gateway) as plane,
        created(client, kwargs) as container,
    ):
        api_url = f"http://{gateway}:{plane.port}"
        # Before start: the root filesystem is read-only, but the volume path takes the archive.
        put_config(container, openclaw_json(api_url, user_id, 1))
        container.start()

        first = plane.wait_for_poll(lambda p: p["generation"] == "1")
        assert first["path"].startswith(f"{INBOUND}?wait=")
        assert first["authorization"] == f"Bearer {TOKEN}"
        assert first["instance"].startswith(container.id[:12] + "-"), first
        attrs = client.api.inspect_container(container.id)
        address = attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        assert first["client"] == address

        wait_for_health(client, container)

        code, output = run_in(
            container,
            "stat -c '%u:%g %a %n' /home/node/.openclaw/openclaw.json "
            "/home/node/.openclaw /home/node/.openclaw/workspace",
        )
        assert code == 0, output
        assert output.split("\n")[:3] == [
            "1000:1000 600 /home/node/.openclaw/openclaw.json",
            "1000:1000 700 /home/node/.openclaw",
            "1000:1000 755 /home/node/.openclaw/workspace",
        ]

        # A rewrite in place while running reaches the running stand-in.
        put_config(container, openclaw_json(api_url, user_id, 2))
        second = plane.wait_for_poll(lambda p: p["generation"] == "2")
        assert second["instance"] == first["instance"], "the same process, not a restart"

        # As the host sees them: docker-init (init: True) and the stand-in under it, both uid 1000.
        top = client.api.top(container.id, ps_args="-o pid,uid,args")
        uid_column, args_column = top["Titles"].index("UID"), top["Titles"].index("COMMAND")
        assert {p[uid_column] for p in top["Processes"]} == {"1000"}, top
        assert ["python3 -u /app/standin.py"] == [
            p[args_column] for p in top["Processes"] if p[args_column].startswith("python3")
        ], top
        assert run_in(container, "id -u; id -g") == (0, "1000\n1000\n")

        code, output = run_in(container, "echo x > /probe")
        assert code != 0 and "Read-only file system" in output, output
        assert run_in(container, "echo ok > /tmp/probe && cat /tmp/probe") == (0, "ok\n")

        attrs = client.api.inspect_container(container.id)
        assert not attrs["NetworkSettings"]["Ports"], attrs["NetworkSettings"]["Ports"]
        assert not attrs["HostConfig"]["PortBindings"]
        assert attrs["Config"]["User"] == CONTAINER_USER
        assert attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
        assert attrs["HostConfig"]["Init"] is True


# Prints how a TCP connection to each (host, port) ended: connected, refused or timeout.
PROBE = """
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except OSError:
        print("timeout")
"""


@pytest.mark.parametrize("which", ["e1", "e2"])
def test_assistants_on_the_network_cannot_reach_each_other(
    engines: Engines, engine_networks: dict[str, str], standin_image: str, which: str
) -> None:
    engine = getattr(engines, which)
    if not engine.iptables:
        pytest.skip("this engine runs without iptables, so it cannot enforce enable_icc=false")
    gateway = engine_networks[engine.name]
    locked_down = {"user": CONTAINER_USER, "read_only": True, "cap_drop": ["ALL"], "network": NETWORK}
    with closing(engine.client(timeout=60)) as client, FakeControlPlane(gateway) as plane:
        # Another user's assistant, idle without a config (so nothing listens on its health port from outside).
        other = client.containers.create(standin_image, **locked_down)
        try:
            other.start()
            other_ip = client.api.inspect_container(other.id)["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
            probe = client.containers.create(
                standin_image,
                ["python3", "-c", PROBE, f"{gateway}:{plane.port}", f"{other_ip}:18789", f"{other_ip}:9"],
                **locked_down,
            )
            try:
                probe.start()
                assert probe.wait(timeout=30)["StatusCode"] == 0
                output = probe.logs().decode().split()
            finally:
                probe.remove(force=True)
        finally:
            other.remove(force=True)

    # The control plane on the gateway answers; the neighbour's packets are dropped, not refused.
    assert output == ["connected", "timeout", "timeout"]
