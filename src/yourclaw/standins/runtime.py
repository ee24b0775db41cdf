"""The stand-in runtime (MOCK_CONTAINERS): a "host" whose containers are in-process stand-in assistants
and whose volumes are directories. Same interface as a Docker host, so the reconciler, the API and the
protocol run their real code paths; only Docker is missing."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import HostServer
from yourclaw.kit.settings import Settings
from yourclaw.runtime import hosts
from yourclaw.runtime import repository as runtime_repo
from yourclaw.runtime.container_spec import ContainerSpec
from yourclaw.runtime.host_client import (
    ArchiveTooLarge,
    ExitInfo,
    HostClient,
    ObservedContainer,
    ObservedVolume,
    VolumeUsage,
)
from yourclaw.standins.assistant import StandinAssistant

# As the host row has been named since the first `yourclaw dev`: renaming it would orphan existing volumes.
STANDIN_HOST_NAME = "simulated"
STANDIN_DOCKER_URL = "tcp://simulated.invalid:2376"


@dataclass
class _Container:
    id: str
    spec: ContainerSpec
    created: float
    state: str = "created"
    assistant: StandinAssistant | None = None
    renamed: str | None = None

    @property
    def name(self) -> str:
        return self.renamed or self.spec.name


# An image tag the stand-in runtime cannot run (`yourclaw rollout` tests and demos of a bad image).
BROKEN_IMAGE_SUFFIX = ":broken"


class StandinHost:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.api_calls = 0
        self.root = root
        self._containers: dict[str, _Container] = {}
        self._volumes: dict[str, tuple[uuid.UUID | None, uuid.UUID | None]] = {}  # name -> (user, pool)
        self._volume_sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._on_event: Callable[..., None] | None = None
        self._closed = threading.Event()
        # When set, every start and restart is refused with this message, as an engine on its way down refuses
        # them while it still answers the API (tests and the chaos bench set it).
        self.refuse_starts: str | None = None
        # Volumes outlive the process, as they outlive containers on a real host.
        for directory in (root / "volumes").glob("yourclaw-data-*") if (root / "volumes").is_dir() else ():
            try:
                self._volumes[directory.name] = (uuid.UUID(directory.name.removeprefix("yourclaw-data-")), None)
            except ValueError:
                continue

    def _volume_dir(self, name: str) -> Path:
        return self.root / "volumes" / name

    def _changed(self) -> None:
        if self._on_event is not None:
            self._on_event()

    def version(self) -> dict:
        self.api_calls += 1
        return {"Version": "simulated", "ApiVersion": "1.41"}

    def cpus(self) -> int:
        self.api_calls += 1
        return os.cpu_count() or 1

    def list_containers(self) -> list[ObservedContainer]:
        self.api_calls += 1
        with self._lock:
            return [
                ObservedContainer(
                    c.id,
                    c.name,
                    c.spec.user_id,
                    c.spec.spec_hash,
                    c.state,
                    None,
                    c.created,
                    pool_id=c.spec.pool_id,
                    template_hash=c.spec.template_hash,
                    volumes=(c.spec.volume,),
                )
                for c in self._containers.values()
            ]

    def list_volumes(self) -> list[ObservedVolume]:
        self.api_calls += 1
        with self._lock:
            return [ObservedVolume(name, owner, pool) for name, (owner, pool) in self._volumes.items()]

    def create(self, spec: ContainerSpec) -> str:
        self.api_calls += 1
        if spec.image.endswith(BROKEN_IMAGE_SUFFIX):
            # As an engine refuses an image it cannot run: what a bad rollout looks like to the reconciler.
            raise RuntimeError(f"No such image: {spec.image}")
        with self._lock:
            for existing in self._containers.values():
                if existing.name == spec.name:
                    return existing.id
            self._volumes.setdefault(spec.volume, (spec.user_id, spec.pool_id))
            if spec.volume_size is not None:
                self._volume_sizes.setdefault(spec.volume, spec.volume_size)
            self._volume_dir(spec.volume).mkdir(parents=True, exist_ok=True)
            container = _Container(secrets.token_hex(32), spec, time.time())
            self._containers[container.id] = container
        self._changed()
        return container.id

    def _get(self, container_id: str) -> _Container:
        container = self._containers.get(container_id)
        if container is None:
            raise KeyError(f"no such container {container_id[:12]}")
        return container

    def keep_running(self, container_id: str) -> None:
        self.api_calls += 1

    def rename(self, container_id: str, name: str) -> None:
        self.api_calls += 1
        with self._lock:
            container = self._get(container_id)
            if any(c.name == name for c in self._containers.values() if c is not container):
                # As the engine answers a name already taken (409).
                raise RuntimeError(f"the name {name} is already in use")
            container.renamed = name
        self._changed()

    def start(self, container_id: str) -> None:
        self.api_calls += 1
        if self.refuse_starts is not None:
            raise RuntimeError(self.refuse_starts)
        with self._lock:
            container = self._get(container_id)
            if container.state == "running":
                return
            config = self._volume_dir(container.spec.volume) / "openclaw.json"
            container.assistant = StandinAssistant(
                config, health_port=None, instance_id=f"{container.id[:12]}-{secrets.token_hex(8)}"
            )
            container.state = "running"
        container.assistant.start()
        self._changed()

    def restart(self, container_id: str) -> None:
        if self.refuse_starts is not None:
            raise RuntimeError(self.refuse_starts)
        self.stop(container_id)
        self.start(container_id)

    def stop(self, container_id: str) -> None:
        """Stands in for a container dying or being stopped behind our back (tests use it)."""
        with self._lock:
            container = self._get(container_id)
            assistant, container.assistant, container.state = container.assistant, None, "exited"
        if assistant is not None:
            assistant.stop()
        self._changed()

    def remove(self, container_id: str) -> None:
        self.api_calls += 1
        with self._lock:
            container = self._containers.pop(container_id, None)
        if container is not None and container.assistant is not None:
            container.assistant.stop()
        self._changed()

    def write_files(self, container_id: str, files: dict[str, tuple[bytes, int]]) -> None:
        self.api_calls += 1
        container = self._get(container_id)
        base = self._volume_dir(container.spec.volume)
        for path, (data, mode) in files.items():
            target = base / path
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.chmod(mode)
            tmp.replace(target)  # atomic, as OpenClaw's watcher expects

    def read_file(self, container_id: str, path: str) -> bytes | None:
        self.api_calls += 1
        target = self._volume_dir(self._get(container_id).spec.volume) / path
        return target.read_bytes() if target.is_file() else None

    def exit_info(self, container_id: str) -> ExitInfo | None:
        self.api_calls += 1
        container = self._containers.get(container_id)
        return None if container is None else ExitInfo(exit_code=0, oom_killed=False, restart_count=0, error=None)

    def volume_usage(self, name: str) -> VolumeUsage | None:
        """A directory has no size of its own: the size the spec asked for, and what the files add up to."""
        self.api_calls += 1
        size = self._volume_sizes.get(name)
        directory = self._volume_dir(name)
        if size is None or not directory.is_dir():
            return None
        used = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and not f.is_symlink())
        return VolumeUsage(size_bytes=size, used_bytes=used)

    def exec_detached(self, container_id: str, command: list[str]) -> str:
        """A stand-in assistant has no lazy first-turn setup to warm: every command succeeds at once."""
        self.api_calls += 1
        self._get(container_id)
        return secrets.token_hex(8)

    def exec_exit_code(self, exec_id: str) -> int | None:
        self.api_calls += 1
        return 0

    def remove_volume(self, name: str) -> None:
        self.api_calls += 1
        with self._lock:
            self._volumes.pop(name, None)
        shutil.rmtree(self._volume_dir(name), ignore_errors=True)

    def archive_volume(self, volume: str, image: str, path: str, max_bytes: int) -> bytes | None:
        found = self.archive_volume_paths(volume, image, [path], max_bytes)
        return None if found is None else found[path]

    def _inside(self, volume: str, path: str) -> Path:
        base = self._volume_dir(volume).resolve()
        target = (base / path).resolve()
        if not target.is_relative_to(base) or target == base:
            raise ValueError(f"not a path inside the volume: {path!r}")
        return target

    def archive_volume_paths(
        self, volume: str, image: str, paths: Sequence[str], max_bytes: int
    ) -> dict[str, bytes | None] | None:
        self.api_calls += 1
        if volume not in self._volumes:
            return None
        out: dict[str, bytes | None] = {}
        total = 0
        for path in paths:
            source = self._inside(volume, path)
            if not source.exists():
                out[path] = None
                continue
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                tar.add(source, arcname=source.name)  # as Docker's archive names it: the last path element first
            total += buffer.tell()
            if total > max_bytes:
                raise ArchiveTooLarge(f"more than {max_bytes} bytes")
            out[path] = buffer.getvalue()
        return out

    def remove_volume_paths(self, volume: str, image: str, paths: Sequence[str]) -> None:
        self.api_calls += 1
        if volume not in self._volumes:
            return
        for path in paths:
            target = self._inside(volume, path)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

    @contextlib.contextmanager
    def volume_out(self, volume: str, image: str) -> Iterator[Iterator[bytes] | None]:
        """The volume as Docker's archive names it (its files under `.openclaw/`), in one chunk."""
        self.api_calls += 1
        if volume not in self._volumes:
            yield None
            return
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(self._volume_dir(volume), arcname=".openclaw")
        yield iter([buffer.getvalue()])

    def volume_in(self, spec: ContainerSpec, image: str, chunks: Iterable[bytes]) -> None:
        self.remove_volume(spec.volume)
        with self._lock:
            self._volumes[spec.volume] = (spec.user_id, spec.pool_id)
        target = self._volume_dir(spec.volume)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            for member in tar.getmembers():
                if member.name.startswith(".openclaw/") and (member.isfile() or member.isdir()):
                    member.name = member.name.removeprefix(".openclaw/")
                    tar.extract(member, target, filter="data")

    def watch_events(self, on_event: Callable[..., None]) -> None:
        self._on_event = on_event
        self._closed.wait()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            containers = list(self._containers.values())
        for container in containers:
            if container.assistant is not None:
                container.assistant.stop()
                container.assistant = None
                container.state = "exited"


def host_factory(settings: Settings) -> Callable[[HostServer], HostClient]:
    """Under MOCK_CONTAINERS every host is a stand-in one (kept per name, with its volumes under the state
    directory); otherwise the real engines over mutual TLS."""
    if not settings.mock_containers:
        return hosts.host_factory(settings)
    opened: dict[str, StandinHost] = {}

    def open_host(row: HostServer) -> HostClient:
        if row.name not in opened:
            opened[row.name] = StandinHost(row.name, settings.state_dir / "simulated" / row.name)
        return opened[row.name]

    return open_host


async def ensure_standin_host(session: AsyncSession, max_containers: int = 100) -> None:
    """The stand-in runtime's one host, so assistants have somewhere to go."""
    await runtime_repo.ensure_host(
        session, name=STANDIN_HOST_NAME, docker_url=STANDIN_DOCKER_URL, max_containers=max_containers
    )
