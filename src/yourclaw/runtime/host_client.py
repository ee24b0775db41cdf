"""What the reconciler needs from a Docker host, whichever kind it is (a real engine over mutual TLS, or
the stand-in runtime). Every method is blocking: the reconciler calls them in threads, a bounded number
at a time per host."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from yourclaw.runtime.container_spec import ContainerSpec


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str
    user_id: uuid.UUID | None
    spec_hash: str | None
    state: str  # created | running | restarting | exited | paused | dead | removing
    health: str | None  # healthy | unhealthy | starting | None
    created: float  # epoch seconds
    exit_code: int | None = None  # of an exited container, from the list: an inspect after a start reads 0
    pool_id: uuid.UUID | None = None  # a warm-pool container (its label; owned by whoever's row names its id)
    template_hash: str | None = None
    volumes: tuple[str, ...] = ()  # the named volumes it mounts (from the list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class ObservedVolume:
    name: str
    user_id: uuid.UUID | None
    pool_id: uuid.UUID | None = None


@dataclass(frozen=True)
class VolumeUsage:
    size_bytes: int
    used_bytes: int


@dataclass(frozen=True)
class ExitInfo:
    exit_code: int | None
    oom_killed: bool = False
    restart_count: int = 0
    error: str | None = None

    def describe(self) -> str:
        if self.oom_killed:
            what = "ran out of memory"
        elif self.error:
            what = f"failed to run ({self.error})"
        elif self.exit_code == 137:
            what = "was killed"
        elif self.exit_code not in (None, 0):
            what = f"crashed (exit code {self.exit_code})"
        else:
            what = "stopped"
        if self.restart_count:
            what += f"; restarted {self.restart_count} times"
        return what


class ArchiveTooLarge(Exception):
    """A volume's archive is larger than the caller takes."""


class HostUnavailable(Exception):
    """The host's engine did not answer (network, TLS, daemon down): its state is unknown, not failed."""


class HostClient(Protocol):
    name: str
    api_calls: int

    def version(self) -> dict: ...

    def cpus(self) -> int:
        """How many CPUs the engine's machine has."""
        ...

    def list_containers(self) -> list[ObservedContainer]: ...

    def list_volumes(self) -> list[ObservedVolume]: ...

    def create(self, spec: ContainerSpec) -> str: ...

    def keep_running(self, container_id: str) -> None:
        """Restart it whenever it stops (a pool container has no restart policy until it is handed off)."""
        ...

    def rename(self, container_id: str, name: str) -> None:
        """Renames it, running or not (a handed-off pool container takes its user's name)."""
        ...

    def start(self, container_id: str) -> None: ...

    def restart(self, container_id: str) -> None: ...

    def remove(self, container_id: str) -> None: ...

    def write_files(self, container_id: str, files: dict[str, tuple[bytes, int]]) -> None: ...

    def read_file(self, container_id: str, path: str) -> bytes | None: ...

    def exit_info(self, container_id: str) -> ExitInfo | None: ...

    def remove_volume(self, name: str) -> None: ...

    def volume_usage(self, name: str) -> VolumeUsage | None:
        """The volume's size and use as its driver reports them; None when it reports none."""
        ...

    def archive_volume(self, volume: str, image: str, path: str, max_bytes: int) -> bytes | None:
        """A tar of `path` (under the data directory) on `volume`, read without running anything; None when
        the volume or the path does not exist. Raises `ArchiveTooLarge` past `max_bytes`."""
        ...

    def archive_volume_paths(
        self, volume: str, image: str, paths: Sequence[str], max_bytes: int
    ) -> dict[str, bytes | None] | None:
        """A tar of each of `paths` (None for one that does not exist) read through one helper; None when the
        volume does not exist. Raises `ArchiveTooLarge` when they come to more than `max_bytes` together."""
        ...

    def remove_volume_paths(self, volume: str, image: str, paths: Sequence[str]) -> None:
        """Removes `paths` (files or directories, under the data directory) from the volume, the user's container
        running or not; a path or a volume that is not there is already gone."""
        ...

    def volume_out(self, volume: str, image: str) -> AbstractContextManager[Iterator[bytes] | None]:
        """The whole volume as tar chunks (`runtime.volume_tar`), read inside the `with` block; None when the
        volume does not exist. Nothing runs while it is read."""
        ...

    def volume_in(self, spec: ContainerSpec, image: str, chunks: Iterable[bytes]) -> None:
        """`spec.volume` made afresh (an old one of that name removed first) and filled from such a tar."""
        ...

    def stop(self, container_id: str) -> None:
        """Stops it (cleanly, as `remove` does) and keeps it."""
        ...

    def exec_detached(self, container_id: str, command: list[str]) -> str:
        """Starts `command` in the container as its user, without waiting; returns the exec's id."""
        ...

    def exec_exit_code(self, exec_id: str) -> int | None:
        """The exec's exit code, or None while it runs."""
        ...

    def watch_events(self, on_event: Callable[..., None]) -> None:
        """Blocks until `close()`, calling `on_event(action, container_id)` (both may be omitted) for each
        change to one of our containers."""

    def close(self) -> None: ...
