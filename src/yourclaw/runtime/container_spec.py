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
# On short-lived helper containers (reading a volume): never `managed`, so the reconciler never adopts one.
LABEL_ROLE = "yourclaw.role"
# A warm-pool container and its volume carry this instead of a user (labels never change: who owns a
# handed-off one is recorded in its assistant's row, `container_id` and `volume`; its hand-off also renames
# it after the user, so the list alone tells it is no longer the pool's, whatever becomes of the row).
LABEL_POOL = "yourclaw.pool_id"
# The spec without its volume: what a pool container is compared on (an image rollout changes it).
LABEL_TEMPLATE = "yourclaw.template_hash"
NETWORK = "yourclaw"
HOME = "/home/node"
DATA_DIR = f"{HOME}/.openclaw"
CACHE_DIR = f"{HOME}/.cache"
CONTAINER_USER = "1000:1000"


def container_name(user_id: uuid.UUID) -> str:
    return f"yourclaw-{user_id}"


def volume_name(user_id: uuid.UUID) -> str:
    return f"yourclaw-data-{user_id}"


POOL_NAME_PREFIX = "yourclaw-pool-"


def pool_container_name(pool_id: uuid.UUID) -> str:
    return f"{POOL_NAME_PREFIX}{pool_id}"


def has_pool_name(container_name: str) -> bool:
    """Still named as the pool's: never handed off (a user's name is `yourclaw-<uuid>`, never this prefix)."""
    return container_name.startswith(POOL_NAME_PREFIX)


def pool_volume_name(pool_id: uuid.UUID) -> str:
    return f"yourclaw-pool-data-{pool_id}"


def parse_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    size = size.strip().lower()
    if size[-1:] in units:
        return int(float(size[:-1]) * units[size[-1]])
    return int(size)


@dataclass(frozen=True)
class ContainerSpec:
    user_id: uuid.UUID | None  # None for a warm-pool container (then `pool_id`)
    image: str
    memory: int
    nano_cpus: int
    pids_limit: int
    tmp_size: str
    environment: tuple[tuple[str, str], ...] = field(default=())
    # How the volume is made when missing. Not part of the hash: a volume is never remade for a new size,
    # and a container on an existing volume is not recreated for it either.
    volume_driver: str = "local"
    volume_size: int | None = None
    pool_id: uuid.UUID | None = None
    # The user's volume when it is not the one named after them (a volume that came with a pool container).
    volume_override: str | None = None

    @property
    def name(self) -> str:
        if self.user_id is None:
            assert self.pool_id is not None
            return pool_container_name(self.pool_id)
        return container_name(self.user_id)

    @property
    def volume(self) -> str:
        if self.volume_override:
            return self.volume_override
        if self.user_id is None:
            assert self.pool_id is not None
            return pool_volume_name(self.pool_id)
        return volume_name(self.user_id)

    def _template(self) -> dict:
        return {
            "image": self.image,
            "memory": self.memory,
            "nano_cpus": self.nano_cpus,
            "pids_limit": self.pids_limit,
            "tmp_size": self.tmp_size,
            "environment": sorted(self.environment),
            "layout": 2,  # bump when the create arguments below change shape
        }

    def _identity(self) -> dict:
        # The volume, not the owner: a pool container handed to a user already matches the user's spec.
        return {**self._template(), "volume": self.volume}

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self._identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def volume_options(self) -> dict[str, str]:
        """The driver's options: the size, for a driver that takes one (`local` does not)."""
        if self.volume_driver == "local" or self.volume_size is None:
            return {}
        return {"size": str(self.volume_size)}

    @property
    def template_hash(self) -> str:
        canonical = json.dumps(self._template(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def owner_labels(self) -> dict[str, str]:
        """Whose it is, for the container and its volume alike."""
        if self.user_id is None:
            return {LABEL_MANAGED: "true", LABEL_POOL: str(self.pool_id)}
        return {LABEL_MANAGED: "true", LABEL_USER: str(self.user_id)}

    def labels(self) -> dict[str, str]:
        return {**self.owner_labels(), LABEL_SPEC: self.spec_hash, LABEL_TEMPLATE: self.template_hash}

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


def spec_for(
    settings: Settings,
    user_id: uuid.UUID | None,
    image: str | None,
    *,
    volume: str | None = None,
    pool_id: uuid.UUID | None = None,
) -> ContainerSpec:
    """A user's container (on `volume` when theirs is not named after them), or with `pool_id` a warm-pool
    container on the current image."""
    return ContainerSpec(
        user_id=user_id,
        pool_id=pool_id,
        volume_override=volume,
        image=image or settings.assistant_image,
        memory=parse_bytes(settings.container_memory),
        nano_cpus=int(settings.container_cpus * 1e9),
        pids_limit=settings.container_pids_limit,
        tmp_size=settings.container_tmp_size,
        volume_driver=settings.volume_driver,
        volume_size=parse_bytes(settings.volume_size),
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
