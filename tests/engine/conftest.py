from __future__ import annotations

import hashlib
import ipaddress
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from yourclaw.runtime.certs import init_ca
from yourclaw.runtime.container_spec import LABEL_MANAGED, NETWORK

from .dockerd import CACHE_DIR, TlsDockerd, _addresses_in_use, ensure_docker_installed
from .images import STANDIN_TAG, STANDIN_V2_TAG, build_image, ensure_base_image, ensure_standin_image

TINY_IMAGE = "yourclaw-test-tiny:latest"
TINY_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY answer.py /opt/answer.py
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--"]
"""


@dataclass(frozen=True)
class Engines:
    tls_dir: Path
    e1: TlsDockerd
    e2: TlsDockerd


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    ensure_docker_installed()
    # Not pytest's tmp_path: pytest prunes old base temp dirs, even one a concurrent session still reads
    # its client certificate from.
    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-test-engines-"))
    tls_dir = workdir / "tls"
    init_ca(tls_dir)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        e1 = stack.enter_context(TlsDockerd("yc-e1", 23761, tls_dir, CACHE_DIR / "yc-e1"))
        e2 = stack.enter_context(TlsDockerd("yc-e2", 23762, tls_dir, CACHE_DIR / "yc-e2"))
        for engine in (e1, e2):
            _remove_all_containers(engine)
        yield Engines(tls_dir=tls_dir, e1=e1, e2=e2)


def _remove_all_containers(engine: TlsDockerd) -> None:
    # These engines exist only for tests, so anything already in them was left by an interrupted run.
    with closing(engine.client(timeout=60)) as client:
        for container in client.containers.list(all=True, sparse=True):
            container.remove(force=True)


@pytest.fixture(scope="session")
def tiny_image(engines: Engines) -> str:
    """A small image on engine e1, built FROM the imported base: python3, tini, nothing else."""
    context = engines.tls_dir.parent / "tiny-image"
    context.mkdir()
    (context / "Dockerfile").write_text(TINY_DOCKERFILE)
    (context / "answer.py").write_text("print(42)\n")
    with closing(engines.e1.client(timeout=300)) as client:
        base = ensure_base_image(client, CACHE_DIR / "images")
        return build_image(client, base, context, TINY_IMAGE)


@pytest.fixture(scope="session")
def standin_image(engines: Engines) -> str:
    """The stand-in assistant image (infra/image/standin with the current standin.py), on both engines."""
    for engine in (engines.e1, engines.e2):
        with closing(engine.client(timeout=300)) as client:
            ensure_standin_image(client, CACHE_DIR / "images", STANDIN_TAG)
    return STANDIN_TAG


@pytest.fixture(scope="session")
def standin_image_v2(engines: Engines) -> str:
    """The same stand-in under another tag and a `yourclaw.variant=v2` label: a distinct image, for tests of
    an image change. On both engines."""
    for engine in (engines.e1, engines.e2):
        with closing(engine.client(timeout=300)) as client:
            ensure_standin_image(client, CACHE_DIR / "images", STANDIN_V2_TAG, variant="v2")
    return STANDIN_V2_TAG


def managed_subnet(engine: TlsDockerd) -> ipaddress.IPv4Network:
    """The subnet of the `yourclaw` network on `engine`: 10.232.x.0/24, apart from the engines' own bridges
    (10.231.x.0/24) and from each other."""
    third = int.from_bytes(hashlib.sha256(engine.name.encode()).digest()[:2], "big") % 254 + 1
    return ipaddress.IPv4Network(f"10.232.{third}.0/24")


@pytest.fixture(scope="session")
def engine_networks(engines: Engines) -> Iterator[dict[str, str]]:
    """On each engine a bridge network `yourclaw` (no inter-container traffic, label yourclaw.managed=true,
    a fixed subnet), as the control plane expects on its hosts. Gives the network's gateway IP per engine
    name (`engines.e1.name`): a host address the containers reach, where the control plane listens.
    Removed at the end, with any container still attached to it."""
    gateways: dict[str, str] = {}
    with ExitStack() as stack:
        for engine in (engines.e1, engines.e2):
            subnet = managed_subnet(engine)
            gateway = str(next(subnet.hosts()))
            client = stack.enter_context(closing(engine.client(timeout=60)))
            network = _ensure_network(client, subnet, gateway)
            stack.callback(_remove_network, network)
            gateways[engine.name] = gateway
        yield gateways


def _ensure_network(
    client: docker.DockerClient, subnet: ipaddress.IPv4Network, gateway: str
) -> docker.models.networks.Network:
    for network in client.networks.list(names=[NETWORK]):
        if network.name != NETWORK:
            continue
        if _network_matches(network.attrs, subnet, gateway):
            return network
        _remove_network(network)  # left by an older layout of this fixture
    clash = [a for a in _addresses_in_use() if a in subnet]
    if clash:
        raise RuntimeError(f"{subnet} for network {NETWORK} is already used on this machine by {clash}")
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=gateway)])
    return client.networks.create(
        NETWORK,
        driver="bridge",
        options={"com.docker.network.bridge.enable_icc": "false"},
        ipam=ipam,
        labels={LABEL_MANAGED: "true"},
        check_duplicate=True,
    )


def _network_matches(attrs: dict, subnet: ipaddress.IPv4Network, gateway: str) -> bool:
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    return (
        attrs.get("Driver") == "bridge"
        and (attrs.get("Options") or {}).get("com.docker.network.bridge.enable_icc") == "false"
        and (attrs.get("Labels") or {}).get(LABEL_MANAGED) == "true"
        and [(c.get("Subnet"), c.get("Gateway")) for c in configs] == [(str(subnet), gateway)]
    )


def _remove_network(network: docker.models.networks.Network) -> None:
    try:
        network.reload()
    except docker.errors.NotFound:
        return
    for container_id in network.attrs.get("Containers") or {}:
        try:
            network.client.containers.get(container_id).remove(force=True)
        except docker.errors.NotFound:
            pass
    try:
        network.remove()
    except docker.errors.NotFound:
        pass
