"""The `yourclaw` bridge network on a test engine, as the control plane expects on its hosts."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import time

import docker
import docker.errors

from tests.harness.dockerd import TlsDockerd, addresses_in_use
from yourclaw.runtime.container_spec import LABEL_MANAGED, NETWORK


def managed_subnet(engine: TlsDockerd) -> ipaddress.IPv4Network:
    """The subnet of the `yourclaw` network on `engine`: 10.232.x.0/24, apart from the engines' own bridges
    (10.231.x.0/24) and from each other."""
    third = int.from_bytes(hashlib.sha256(engine.name.encode()).digest()[:2], "big") % 254 + 1
    return ipaddress.IPv4Network(f"10.232.{third}.0/24")


def ensure_network(
    client: docker.DockerClient, subnet: ipaddress.IPv4Network, gateway: str
) -> docker.models.networks.Network:
    for network in client.networks.list(names=[NETWORK]):
        if network.name != NETWORK:
            continue
        if network_matches(network.attrs, subnet, gateway):
            return network
        remove_network(network)  # left by an older layout of this fixture
    clash = [a for a in addresses_in_use() if a in subnet]
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


def network_matches(attrs: dict, subnet: ipaddress.IPv4Network, gateway: str) -> bool:
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    return (
        attrs.get("Driver") == "bridge"
        and (attrs.get("Options") or {}).get("com.docker.network.bridge.enable_icc") == "false"
        and (attrs.get("Labels") or {}).get(LABEL_MANAGED) == "true"
        and [(c.get("Subnet"), c.get("Gateway")) for c in configs] == [(str(subnet), gateway)]
    )


def remove_network(network: docker.models.networks.Network) -> None:
    """The `yourclaw` network, once its containers are gone. Should dockerd still count an endpoint no
    container holds, it refuses ("has active endpoints") for a while: a few retries, then the error; a network
    left in the engine's data root is found and reused by the next run."""
    for attempt in range(5):
        try:
            network.reload()
        except docker.errors.NotFound:
            return
        for container_id in network.attrs.get("Containers") or {}:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.client.api.remove_container(container_id, force=True)
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if attempt == 4:
                raise
            time.sleep(1.0)  # a retry's pause, not a wait on a condition: dockerd gives no event for it
