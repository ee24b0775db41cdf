"""A Docker host reached with docker-py over mutual TLS."""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import requests
import structlog
from docker.errors import APIError, DockerException, NotFound

from yourclaw.runtime import volume_files, volume_tar
from yourclaw.runtime.certs import docker_client
from yourclaw.runtime.container_spec import (
    DATA_DIR,
    LABEL_MANAGED,
    LABEL_POOL,
    LABEL_SPEC,
    LABEL_TEMPLATE,
    LABEL_USER,
    NETWORK,
    ContainerSpec,
)
from yourclaw.runtime.host_client import (
    ExitInfo,
    HostUnavailable,
    ObservedContainer,
    ObservedVolume,
    VolumeUsage,
)

log = structlog.get_logger(__name__)
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
# What changes the container list. Not exec_create/exec_start/exec_die: every health probe is an exec, and
# with those a host of a hundred assistants would wake the reconciler many times a second for nothing.
# ("health_status" matches "health_status: healthy" and the like: Docker matches that one by prefix.)
WATCHED_EVENTS = ("create", "start", "restart", "die", "destroy", "oom", "health_status", "pause", "unpause", "rename")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")
OWNER_UID = 1000
# An idle gateway stops in under a second; one in a turn gets this long before it is killed.
STOP_GRACE_SECONDS = 10


ICC_OPTION = "com.docker.network.bridge.enable_icc"


class UnsafeNetwork(HostUnavailable):
    """The host's network for assistants lets containers reach each other, and is in use: nothing is placed
    on the host until an operator replaces it (its state is wrong, not the assistant's)."""


def _isolating(network: dict) -> bool:
    return network.get("Driver") == "bridge" and (network.get("Options") or {}).get(ICC_OPTION) == "false"


def _user_id(labels: dict | None, label: str = LABEL_USER) -> uuid.UUID | None:
    try:
        return uuid.UUID((labels or {}).get(label, ""))
    except ValueError:
        return None


def tar_files(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar owned by the container user, with parent directories, for `put_archive` onto the volume."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs = sorted({str(Path(p).parent) for p in files if str(Path(p).parent) != "."})
        for directory in dirs:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, 0o755, OWNER_UID, OWNER_UID, now
            tar.addfile(info)
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, OWNER_UID, OWNER_UID, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DockerHost:
    def __init__(
        self, name: str, docker_url: str, tls_dir: Path, *, api_version: str = "1.41", network: str = NETWORK
    ) -> None:
        self.name = name
        self.docker_url = docker_url
        self.api_calls = 0
        self._client = docker_client(docker_url, tls_dir, api_version=api_version, timeout=15)
        self._api = self._client.api
        self.network = network
        self._network_ready = False
        self._events_stream = None
        self._closed = threading.Event()

    def _call(self, fn: Callable, *args, **kwargs):
        self.api_calls += 1
        try:
            return fn(*args, **kwargs)
        except (NotFound, APIError):
            raise
        except (DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise HostUnavailable(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    def version(self) -> dict:
        return self._call(self._api.version)

    def cpus(self) -> int:
        return int(self._call(self._api.info).get("NCPU") or 1)

    def list_containers(self) -> list[ObservedContainer]:
        rows = self._call(self._api.containers, all=True, filters={"label": f"{LABEL_MANAGED}=true"})
        observed = []
        for row in rows:
            labels = row.get("Labels") or {}
            status = row.get("Status") or ""
            match = _HEALTH.search(status)
            health = match.group(1).replace("health: ", "") if match else None
            exited = _EXITED.match(status)
            observed.append(
                ObservedContainer(
                    id=row["Id"],
                    name=(row.get("Names") or ["/"])[0].lstrip("/"),
                    user_id=_user_id(labels),
                    spec_hash=labels.get(LABEL_SPEC),
                    state=row.get("State") or "unknown",
                    health=health,
                    created=float(row.get("Created") or 0),
                    exit_code=int(exited.group(1)) if exited else None,
                    pool_id=_user_id(labels, LABEL_POOL),
                    template_hash=labels.get(LABEL_TEMPLATE),
                    volumes=tuple(
                        m["Name"] for m in row.get("Mounts") or () if m.get("Type") == "volume" and m.get("Name")
                    ),
                )
            )
        return observed

    def list_volumes(self) -> list[ObservedVolume]:
        answer = self._call(self._api.volumes, filters={"label": f"{LABEL_MANAGED}=true"})
        return [
            ObservedVolume(v["Name"], _user_id(v.get("Labels")), _user_id(v.get("Labels"), LABEL_POOL))
            for v in (answer.get("Volumes") or [])
        ]

    def ensure_network(self) -> None:
        """The network assistants join, made if missing; one found letting its containers reach each other
        is remade isolating them when nothing uses it, and otherwise refused (`UnsafeNetwork`)."""
        if self._network_ready:
            return
        try:
            network = self._call(self._api.inspect_network, self.network)
        except NotFound:
            network = None
        if network is None:
            self._create_network()
        elif not _isolating(network):
            self._repair_network(network)
        self._network_ready = True

    def _create_network(self, *, options: dict | None = None, labels: dict | None = None, ipam=None) -> None:
        try:
            self._call(
                self._api.create_network,
                self.network,
                driver="bridge",
                # Assistants reach the internet and our API, never each other.
                options={**(options or {}), ICC_OPTION: "false"},
                labels={**(labels or {}), LABEL_MANAGED: "true"},
                ipam=ipam,
            )
        except APIError as exc:
            if exc.status_code != 409:
                raise

    def _repair_network(self, network: dict) -> None:
        users = self._call(self._api.containers, all=True, quiet=True, filters={"network": self.network})
        if users:
            log.error("network_not_isolating", host=self.name, network=self.network, containers=len(users))
            raise UnsafeNetwork(
                f"{self.name}: the {self.network} network lets containers reach each other ({ICC_OPTION} is not "
                f"false) and {len(users)} containers use it: no assistant is placed there until it is replaced "
                f"by one with {ICC_OPTION}=false (remove it once they are gone; the control plane makes it)"
            )
        # Nothing on it: remade as it was (its subnet and gateway, where the control plane may listen), isolating.
        self._call(self._api.remove_network, network["Id"])
        options = (network.get("Options") or {}) if network.get("Driver") == "bridge" else {}
        self._create_network(options=options, labels=network.get("Labels"), ipam=network.get("IPAM"))
        log.warning("network_repaired", host=self.name, network=self.network)

    def create(self, spec: ContainerSpec) -> str:
        """Idempotent: a container of that name already there (a create whose answer was lost) is reused."""
        self.ensure_network()
        self.ensure_volume(spec)
        kwargs = spec.create_kwargs()
        host_config = self._api.create_host_config(
            binds={spec.volume: {"bind": DATA_DIR, "mode": "rw"}},
            tmpfs=kwargs["tmpfs"],
            read_only=True,
            mem_limit=kwargs["mem_limit"],
            memswap_limit=kwargs["memswap_limit"],
            nano_cpus=kwargs["nano_cpus"],
            pids_limit=kwargs["pids_limit"],
            init=True,
            cap_drop=kwargs["cap_drop"],
            security_opt=kwargs["security_opt"],
            log_config=kwargs["log_config"],
            # A pool container is not brought back: one that dies is destroyed with its volume and replaced
            # (its hand-off sets the user's policy, `keep_running`).
            restart_policy=kwargs["restart_policy"] if spec.user_id is not None else {"Name": "no"},
            network_mode=self.network,
        )
        try:
            created = self._call(
                self._api.create_container,
                image=spec.image,
                name=spec.name,
                user=kwargs["user"],
                labels=kwargs["labels"],
                environment=kwargs["environment"],
                volumes=[DATA_DIR],
                host_config=host_config,
                detach=True,
            )
            return created["Id"]
        except APIError as exc:
            if exc.status_code == 409:
                return self._call(self._api.inspect_container, spec.name)["Id"]
            raise

    def ensure_volume(self, spec: ContainerSpec) -> None:
        """The one place a data volume is made (a user's, or a fresh one for a pool container), by the
        configured driver at its size; creating an existing volume is a no-op in Docker, so this is idempotent."""
        try:
            self._call(
                self._api.create_volume,
                spec.volume,
                driver=spec.volume_driver,
                driver_opts=spec.volume_options() or None,
                labels=spec.owner_labels(),
            )
        except APIError as exc:
            # Made earlier with another driver (before VOLUME_DRIVER changed): the user's data is in it, so
            # it is kept as it is; moving it onto a sized volume is an operator's step.
            if exc.status_code != 409:
                raise
            log.warning("volume_kept_with_other_driver", host=self.name, wanted=spec.volume_driver)

    def volume_usage(self, name: str) -> VolumeUsage | None:
        """What the volume's driver reports of its size and use (`yourclaw-volumes` does; `local` does not:
        None). One inspect: the driver answers from a statfs of the mounted filesystem, or the image's size."""
        try:
            info = self._call(self._api.inspect_volume, name)
        except NotFound:
            return None
        status = info.get("Status") or {}
        try:
            return VolumeUsage(size_bytes=int(status["size_bytes"]), used_bytes=int(status["used_bytes"]))
        except (KeyError, TypeError, ValueError):
            return None

    def keep_running(self, container_id: str) -> None:
        """A handed-off pool container gets the restart policy every user's container has."""
        self._call(self._api.update_container, container_id, restart_policy={"Name": "unless-stopped"})

    def rename(self, container_id: str, name: str) -> None:
        self._call(self._api.rename, container_id, name)

    def start(self, container_id: str) -> None:
        self._call(self._api.start, container_id)

    def restart(self, container_id: str) -> None:
        self._call(self._api.restart, container_id, timeout=10)

    def remove(self, container_id: str) -> None:
        """Stopped first, so OpenClaw shuts down cleanly: a gateway killed outright leaves its owner lease in
        the state database on the volume, bound to the container's hostname, and the next container on that
        volume (a recreate, an upgrade) refuses to start until the lease runs out, minutes later."""
        try:
            self._call(self._api.stop, container_id, timeout=STOP_GRACE_SECONDS)
            self._call(self._api.remove_container, container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # removal already in progress
                raise

    def write_files(self, container_id: str, files: dict[str, tuple[bytes, int]]) -> None:
        if not self._call(self._api.put_archive, container_id, DATA_DIR, tar_files(files)):
            raise HostUnavailable(f"{self.name}: the engine refused the config archive")

    def read_file(self, container_id: str, path: str) -> bytes | None:
        try:
            stream, _ = self._call(self._api.get_archive, container_id, f"{DATA_DIR}/{path}")
        except NotFound:
            return None
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member else None
            return extracted.read() if extracted else None

    def exit_info(self, container_id: str) -> ExitInfo | None:
        try:
            info = self._call(self._api.inspect_container, container_id)
        except NotFound:
            return None
        state = info.get("State") or {}
        return ExitInfo(
            exit_code=state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            restart_count=int(info.get("RestartCount") or 0),
            error=state.get("Error") or None,
        )

    def exec_detached(self, container_id: str, command: list[str]) -> str:
        exec_id = self._call(self._api.exec_create, container_id, command, user="1000:1000")["Id"]
        self._call(self._api.exec_start, exec_id, detach=True)
        return exec_id

    def exec_exit_code(self, exec_id: str) -> int | None:
        state = self._call(self._api.exec_inspect, exec_id)
        return None if state.get("Running") else state.get("ExitCode")

    def remove_volume(self, name: str) -> None:
        try:
            self._call(self._api.remove_volume, name, force=True)
        except NotFound:
            pass

    def archive_volume(self, volume: str, image: str, path: str, max_bytes: int) -> bytes | None:
        found = self.archive_volume_paths(volume, image, [path], max_bytes)
        return None if found is None else found[path]

    def archive_volume_paths(
        self, volume: str, image: str, paths: Sequence[str], max_bytes: int
    ) -> dict[str, bytes | None] | None:
        return volume_files.archive_paths(self._call, self._api, volume, image, paths, max_bytes)

    def remove_volume_paths(self, volume: str, image: str, paths: Sequence[str]) -> None:
        volume_files.remove_paths(self._call, self._api, volume, image, paths)

    @contextlib.contextmanager
    def volume_out(self, volume: str, image: str) -> Iterator[Iterator[bytes] | None]:
        """The whole volume as tar chunks, read inside the block; None when there is no such volume."""
        with volume_tar.read(self._call, self._api, volume, image) as chunks:
            yield chunks

    def volume_in(self, spec: ContainerSpec, image: str, chunks: Iterable[bytes]) -> None:
        """A fresh `spec.volume` (one left by an earlier attempt is removed first), made as any user's volume
        is (`ensure_volume`: the configured driver and size), filled from a tar `volume_out` gave."""
        self.remove_volume(spec.volume)
        self.ensure_volume(spec)
        volume_tar.write(self._call, self._api, spec.volume, image, chunks)

    def stop(self, container_id: str) -> None:
        """Stops it as `remove` does (OpenClaw shuts down cleanly) and keeps it."""
        with contextlib.suppress(NotFound):
            self._call(self._api.stop, container_id, timeout=STOP_GRACE_SECONDS)

    def watch_events(self, on_event: Callable[..., None]) -> None:
        """Blocks (its own thread): calls `on_event(action, container_id)` for every change to one of our
        containers, until `close()`. Reconnects after a failure, so a restarted engine is watched again."""
        filters = {"type": "container", "label": [f"{LABEL_MANAGED}=true"], "event": list(WATCHED_EVENTS)}
        while not self._closed.is_set():
            try:
                self._events_stream = self._api.events(decode=True, filters=filters)
                for event in self._events_stream:
                    on_event(event.get("Action") or event.get("status") or "", event.get("id") or "")
            except Exception as exc:  # noqa: BLE001  (any failure: wait and watch again)
                if self._closed.is_set():
                    break
                log.debug("docker_events_interrupted", host=self.name, error=type(exc).__name__)
            self._closed.wait(2.0)

    def close(self) -> None:
        self._closed.set()
        stream = self._events_stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
        self._client.close()
