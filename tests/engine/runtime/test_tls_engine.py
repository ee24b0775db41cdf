from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors
import pytest
import requests
from docker.tls import TLSConfig

from tests.harness.dockerd import CACHE_DIR, TlsDockerd
from tests.harness.images import BASE_REPOSITORY, ensure_base_image
from tests.harness.waiting import wait_for_sync
from yourclaw.runtime.certs import ca_paths, docker_client, init_ca
from yourclaw.runtime.container_spec import LABEL_MANAGED
from yourclaw.runtime.docker_host import DockerHost

if TYPE_CHECKING:
    from .conftest import Engines


pytestmark = pytest.mark.engine


def raw_client(url: str, tls: TLSConfig) -> docker.DockerClient:
    client = docker.DockerClient(base_url=url, tls=tls, version="1.41", timeout=10)
    # Else a host-wide REQUESTS_CA_BUNDLE replaces our CA and the client refuses the engine, not the reverse.
    client.api.trust_env = False
    return client


def run_to_exit(
    client: docker.DockerClient, image: str, command: list[str], **options: object
) -> tuple[int, str, dict]:
    """Run a container to completion and remove it whatever happens; (exit status, output, HostConfig)."""
    container = client.containers.create(image, command, name=f"yc-test-{uuid.uuid4().hex[:8]}", **options)
    try:
        container.start()
        status = container.wait(timeout=60)["StatusCode"]
        output = container.logs().decode()
        host_config = client.api.inspect_container(container.id)["HostConfig"]
    finally:
        container.remove(force=True)
    return status, output, host_config


def test_control_plane_certificate_is_accepted(engines: Engines) -> None:
    with closing(engines.e1.client()) as client:
        version = client.version()

    api = tuple(int(part) for part in version["ApiVersion"].split("."))
    assert api >= (1, 41)


def assert_engine_refuses(engine: TlsDockerd, tls: TLSConfig, reason: str) -> None:
    since = engine.log_offset()
    with closing(raw_client(engine.docker_url, tls)) as client:
        # Under TLS 1.3 the engine's verdict reaches the client as an alert, an EOF or a reset, by timing.
        with pytest.raises(requests.exceptions.ConnectionError):
            client.version()
    # The engine's own log says it was the one refusing, and why.
    assert engine.wait_for_log(reason, since=since), f"no {reason!r} in {engine.logfile}"


def test_client_without_certificate_is_refused(engines: Engines) -> None:
    ca = ca_paths(engines.tls_dir).ca_cert
    tls = TLSConfig(ca_cert=str(ca), verify=True)

    assert_engine_refuses(engines.e1, tls, "client didn't provide a certificate")


def test_client_certificate_from_another_ca_is_refused(engines: Engines, tmp_path: Path) -> None:
    # The client still trusts the right CA, so only the engine's check of the client can fail here.
    stranger = init_ca(tmp_path / "stranger")
    tls = TLSConfig(
        client_cert=(str(stranger.client_cert), str(stranger.client_key)),
        ca_cert=str(ca_paths(engines.tls_dir).ca_cert),
        verify=True,
    )

    assert_engine_refuses(engines.e1, tls, "failed to verify client certificate")


def test_engine_certificate_from_another_ca_is_refused(engines: Engines, tmp_path: Path) -> None:
    stranger = init_ca(tmp_path / "stranger")
    with closing(docker_client(engines.e1.docker_url, stranger.dir)) as client:
        with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
            client.version()


def test_locked_down_container_runs_python(engines: Engines, tiny_image: str) -> None:
    with closing(engines.e1.client(timeout=60)) as client:
        status, output, host_config = run_to_exit(
            client,
            tiny_image,
            ["python3", "-c", "import os; print(42); print(os.getuid(), os.getgid())"],
            user="1000:1000",
            cap_drop=["ALL"],
            read_only=True,
            security_opt=["no-new-privileges"],
            pids_limit=32,
            mem_limit="128m",
            network_mode="none",
        )

    assert status == 0, output
    assert output.split() == ["42", "1000", "1000"]
    assert host_config["CapDrop"] == ["ALL"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["SecurityOpt"] == ["no-new-privileges"]
    assert host_config["PidsLimit"] == 32


def test_image_runs_its_script_as_the_image_user(engines: Engines, tiny_image: str) -> None:
    with closing(engines.e1.client(timeout=60)) as client:
        image_user = client.images.get(tiny_image).attrs["Config"]["User"]
        status, output, _ = run_to_exit(
            client, tiny_image, ["python3", "/opt/answer.py"], cap_drop=["ALL"], read_only=True
        )

    assert image_user == "1000:1000"
    assert (status, output.strip()) == (0, "42")


def test_engines_are_independent(engines: Engines, tiny_image: str) -> None:
    label = {"yourclaw.test": uuid.uuid4().hex}
    with closing(engines.e1.client()) as one, closing(engines.e2.client()) as two:
        assert one.info()["ID"] != two.info()["ID"]
        container = one.containers.create(tiny_image, ["true"], labels=label)
        try:
            filters = {"label": [f"yourclaw.test={label['yourclaw.test']}"]}
            assert [c.id for c in one.containers.list(all=True, sparse=True, filters=filters)] == [container.id]
            assert two.containers.list(all=True, sparse=True, filters=filters) == []
            with pytest.raises(docker.errors.NotFound):
                two.containers.get(container.id)
        finally:
            container.remove(force=True)


def test_second_engine_imports_the_cached_root_filesystem(engines: Engines, tiny_image: str) -> None:
    tarballs = sorted((CACHE_DIR / "images").glob(f"{BASE_REPOSITORY}-*.tar"))
    made_at = [t.stat().st_mtime_ns for t in tarballs]

    with closing(engines.e2.client(timeout=300)) as client:
        tag = ensure_base_image(client, CACHE_DIR / "images")
        assert client.images.get(tag).attrs["Config"]["Env"]

    assert f"{BASE_REPOSITORY}-{tag.split(':')[1]}.tar" in [t.name for t in tarballs]
    assert [t.stat().st_mtime_ns for t in tarballs] == made_at, "no second debootstrap"


@contextmanager
def managed_container(client: docker.DockerClient, image: str, command: list[str], **options: object) -> Iterator:
    """A started container labelled as ours (the host client's list and event watch see it), removed after."""
    name = f"yc-test-{uuid.uuid4().hex[:8]}"
    container = client.containers.create(image, command, name=name, labels={LABEL_MANAGED: "true"}, **options)
    try:
        container.start()
        yield container
    finally:
        container.remove(force=True)


def test_the_container_list_carries_how_a_stopped_container_exited(engines: Engines, tiny_image: str) -> None:
    # The reason a stopped assistant shows must come from here: once started again, inspect reads 0.
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir)
    try:
        with (
            closing(engines.e1.client(timeout=60)) as client,
            managed_container(client, tiny_image, ["python3", "-c", "raise SystemExit(3)"]) as container,
        ):
            assert container.wait(timeout=60)["StatusCode"] == 3
            (seen,) = [c for c in host.list_containers() if c.id == container.id]
    finally:
        host.close()
    assert (seen.state, seen.exit_code) == ("exited", 3)


def test_the_event_watch_reports_lifecycle_changes_and_not_health_probes(engines: Engines, tiny_image: str) -> None:
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir)
    actions: list[str] = []
    watcher = threading.Thread(target=host.watch_events, args=(lambda action, _id: actions.append(action),))
    watcher.start()
    probe = {"test": ["CMD", "true"], "interval": 200_000_000, "timeout": 1_000_000_000}
    try:
        with (
            closing(engines.e1.client(timeout=60)) as client,
            managed_container(
                client, tiny_image, ["python3", "-c", "import time; time.sleep(60)"], healthcheck=probe
            ) as container,
        ):

            def probes() -> int:
                health = client.api.inspect_container(container.id)["State"].get("Health") or {}
                return len(health.get("Log") or [])

            wait_for_sync(lambda: probes() >= 3, timeout=30, message="three health probes")
            client.api.kill(container.id)
            wait_for_sync(lambda: "die" in actions, timeout=30, message="the die event")
    finally:
        host.close()
        watcher.join(timeout=10)
    assert {"start", "die"} <= set(actions) and any(a.startswith("health_status") for a in actions)
    assert not [a for a in actions if a.startswith("exec_")]
