"""The network assistants join keeps them from reaching each other: one found with inter-container traffic
on is remade isolating (same subnet and gateway) when nothing uses it, and refused while something does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING

import docker
import pytest

from yourclaw.runtime.docker_host import ICC_OPTION, DockerHost, UnsafeNetwork

if TYPE_CHECKING:
    from tests.fixtures.engines import Engines

pytestmark = pytest.mark.engine

SUBNET, GATEWAY = "10.233.77.0/24", "10.233.77.1"


@pytest.fixture
def client(engines: Engines) -> Iterator[docker.DockerClient]:
    with closing(engines.e1.client(timeout=60)) as client:
        yield client


@pytest.fixture
def name(client: docker.DockerClient) -> Iterator[str]:
    """A network name of the test's own (the `yourclaw` one of the engine tests stays untouched)."""
    name = f"yc-test-icc-{uuid.uuid4().hex[:8]}"
    yield name
    for network in client.networks.list(names=[name]):
        for container in client.containers.list(all=True, filters={"network": name}):
            container.remove(force=True)
        network.remove()


def _open_network(client: docker.DockerClient, name: str) -> None:
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET, gateway=GATEWAY)])
    client.networks.create(name, driver="bridge", options={ICC_OPTION: "true"}, ipam=ipam)


def test_an_unused_network_with_inter_container_traffic_is_remade_isolating(engines: Engines, client, name) -> None:
    _open_network(client, name)
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir, network=name)
    try:
        host.ensure_network()
    finally:
        host.close()
    (network,) = client.networks.list(names=[name])
    assert network.attrs["Options"][ICC_OPTION] == "false"
    assert [(c["Subnet"], c["Gateway"]) for c in network.attrs["IPAM"]["Config"]] == [(SUBNET, GATEWAY)]
    assert network.attrs["Labels"]["yourclaw.managed"] == "true"


def test_a_network_in_use_with_inter_container_traffic_is_refused(
    engines: Engines, client, name, tiny_image: str
) -> None:
    _open_network(client, name)
    client.containers.create(tiny_image, ["python3", "-c", "pass"], network=name, name=f"{name}-user")
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir, network=name)
    try:
        with pytest.raises(UnsafeNetwork, match=ICC_OPTION):
            host.ensure_network()
    finally:
        host.close()
    (network,) = client.networks.list(names=[name])
    assert network.attrs["Options"][ICC_OPTION] == "true"  # left for the operator, not pulled from under it


def test_a_missing_network_is_made_isolating(engines: Engines, client, name) -> None:
    host = DockerHost("e1", engines.e1.docker_url, engines.tls_dir, network=name)
    try:
        host.ensure_network()
    finally:
        host.close()
    (network,) = client.networks.list(names=[name])
    assert network.attrs["Options"][ICC_OPTION] == "false"
