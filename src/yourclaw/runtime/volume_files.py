"""Reading and removing files on a volume through the Docker API, for the user's own data (the export, the
memory files), whether or not the user's container runs.

Both go through `volume_tar`'s helper container (the assistant's image, the volume mounted, no network and
no capabilities, no `managed` label, removed at once). A read never starts it: the engine serves
`get_archive` from a created container's mounts, so nothing of the user's runs. A removal has to run `rm`, as
the volume's owner, and nothing else."""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Callable, Sequence

from docker.errors import NotFound

from yourclaw.runtime import volume_tar
from yourclaw.runtime.container_spec import DATA_DIR
from yourclaw.runtime.host_client import ArchiveTooLarge, HostUnavailable

OWNER = "1000:1000"  # the image's user, who owns every file the assistant writes
REMOVE_TIMEOUT_SECONDS = 60


def _under_data_dir(path: str) -> str:
    """`path` inside the volume; never one that climbs out of it (the callers pass fixed or checked paths)."""
    normal = posixpath.normpath(path)
    if normal.startswith(("/", "..")) or normal == ".":
        raise ValueError(f"not a path inside the volume: {path!r}")
    return f"{DATA_DIR}/{normal}"


def read_bounded(chunks, max_bytes: int) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > max_bytes:
            raise ArchiveTooLarge(f"more than {max_bytes} bytes")
    return bytes(out)


def archive_paths(
    call: Callable, api, volume: str, image: str, paths: Sequence[str], max_bytes: int
) -> dict[str, bytes | None] | None:
    """A tar of each of `paths` (as Docker names it: the path's last element first), None for one that does not
    exist; None for all when the volume does not. `max_bytes` bounds them together (`ArchiveTooLarge`)."""
    try:
        call(api.inspect_volume, volume)
    except NotFound:
        return None
    out: dict[str, bytes | None] = {}
    left = max_bytes
    with volume_tar.helper(call, api, volume, image, writable=False, role="volume-reader") as helper:
        for path in paths:
            try:
                stream, _ = call(api.get_archive, helper, _under_data_dir(path))
            except NotFound:
                out[path] = None
                continue
            out[path] = read_bounded(stream, left)
            left -= len(out[path] or b"")
    return out


def remove_paths(call: Callable, api, volume: str, image: str, paths: Sequence[str]) -> None:
    """Removes `paths` (files or directories) from the volume; one that is not there is already gone."""
    targets = [_under_data_dir(path) for path in paths]
    try:
        call(api.inspect_volume, volume)
    except NotFound:
        return
    remover = {"user": OWNER, "entrypoint": ["rm", "-rf", "--"], "command": targets}
    with volume_tar.helper(call, api, volume, image, writable=True, role="volume-writer", **remover) as helper:
        call(api.start, helper)
        result = call(api.wait, helper, timeout=REMOVE_TIMEOUT_SECONDS)
        if (result or {}).get("StatusCode") != 0:
            raise HostUnavailable(f"removing files from {volume} failed (exit {(result or {}).get('StatusCode')})")


def tar_members(archive: bytes) -> list[tuple[str, bytes]]:
    """The regular files of an archive read off a volume, named as in it, never with a name that climbs out of
    it (`..`, an absolute path); links and devices are left out."""
    files = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = posixpath.normpath(member.name).lstrip("/")
            if name.startswith("..") or "/../" in name:
                continue
            extracted = tar.extractfile(member)
            if extracted is not None:
                files.append((name, extracted.read()))
    return files
