"""The container an assistant runs in, as data: what docker-py needs to create it, and a hash of it.

A change of anything in here (image, limits, mounts, environment) means recreate; the config file is not
in here (it changes in place). The hash rides on a label, so drift is found from one list call per host.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

from yourclaw.kit.settings import Settings

LABEL_MANAGED = "yourclaw.managed"
LABEL_USER = "yourclaw.user_id"
LABEL_SPEC = "yourclaw.spec_hash"
NETWORK = "yourclaw"
HOME = "/home/node"
DATA_DIR = f"{HOME}/.openclaw"
CACHE_DIR = f"{HOME}/.cache"
CONTAINER_USER = "1000:1000"


def container_name(user_id: uuid.UUID) -> str:
    return f"yourclaw-{user_id}"


def volume_name(user_id: uuid.UUID) -> str:
    return f"yourclaw-data-{user_id}"


def _bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    size = size.strip().lower()
    if size[-1:] in units:
        return int(float(size[:-1]) * units[size[-1]])
    return int(size)


@dataclass(frozen=True)
class ContainerSpec:
    user_id: uuid.UUID
    image: str
    memory: int
    nano_cpus: int
    pids_limit: int
    tmp_size: str
    environment: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return container_name(self.user_id)

    @property
    def volume(self) -> str:
        return volume_name(self.user_id)

    def _identity(self) -> dict:
        return {
            "image": self.image,
            "memory": self.memory,
            "nano_cpus": self.nano_cpus,
            "pids_limit": self.pids_limit,
            "tmp_size": self.tmp_size,
            "environment": sorted(self.environment),
            "volume": self.volume,
            "layout": 2,  # bump when the create arguments below change shape
        }

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self._identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def labels(self) -> dict[str, str]:
        return {LABEL_MANAGED: "true", LABEL_USER: str(self.user_id), LABEL_SPEC: self.spec_hash}

    def create_kwargs(self) -> dict:
        """Arguments for `client.containers.create`: locked down, nothing published (the assistant dials out)."""
        return {
            "image": self.image,
            "name": self.name,
            "user": CONTAINER_USER,
            "labels": self.labels(),
            "environment": dict(self.environment),
            "volumes": {self.volume: {"bind": DATA_DIR, "mode": "rw"}},
            "tmpfs": {
                "/tmp": f"rw,nosuid,nodev,size={self.tmp_size}",
                # OpenClaw keeps a shared state database under ~/.cache and will not start without it;
                # the root filesystem is read-only, and this is scratch, not the user's data.
                CACHE_DIR: f"rw,nosuid,nodev,size={self.tmp_size},uid=1000,gid=1000,mode=0700",
            },
            "read_only": True,
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
            "nano_cpus": self.nano_cpus,
            "pids_limit": self.pids_limit,
            "init": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
            "restart_policy": {"Name": "unless-stopped"},
            "network": NETWORK,
            "detach": True,
        }


def spec_for(settings: Settings, user_id: uuid.UUID, image: str | None) -> ContainerSpec:
    return ContainerSpec(
        user_id=user_id,
        image=image or settings.assistant_image,
        memory=_bytes(settings.container_memory),
        nano_cpus=int(settings.container_cpus * 1e9),
        pids_limit=settings.container_pids_limit,
        tmp_size=settings.container_tmp_size,
        environment=(
            ("HOME", HOME),
            ("TMPDIR", "/tmp"),
            ("OPENCLAW_NO_AUTO_UPDATE", "1"),
            ("OPENCLAW_CONFIG_PATH", f"{DATA_DIR}/openclaw.json"),
            # The config is rewritten by replacing the file (put_archive); an inotify watch stays on the old
            # file and misses every change after the first, so OpenClaw's watcher polls instead (a connected
            # Google service's MCP server is picked up by hot reload, without a restart).
            ("CHOKIDAR_USEPOLLING", "1"),
        ),
    )
