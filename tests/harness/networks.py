"""The `yourclaw` bridge network on a test engine, as the control plane expects on its hosts."""

from __future__ import annotations

import hashlib
import ipaddress

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
