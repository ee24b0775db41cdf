"""A user's volume as a tar stream, out of an engine and into one, through the Docker API alone: what a move
to another host (`volume_apply`), a backup and a restore (`backups`) and an export (`user_data`) share.

Both ends go through a helper container that mounts the volume and is never started: the engine serves
`get_archive` and `put_archive` from a created container's mounts, so nothing runs beside the user's files.
The helper carries a role label and no `managed` label (no pass ever adopts it) and is removed at once.
The stream is never held whole: chunks flow from one engine's answer into the other's request (or into the
backup store) as they come.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Callable, Iterable, Iterator

from docker.errors import NotFound

from yourclaw.runtime.container_spec import DATA_DIR, HOME, LABEL_ROLE

CHUNK = 1024 * 1024
# Left out of a backup: it holds the assistant's token, and the reconciler writes a fresh one anyway when
# the assistant comes back on a restored volume.
CONFIG_FILE = "openclaw.json"
TOP = DATA_DIR.rsplit("/", 1)[-1]  # ".openclaw": the volume's tar holds its files under this name


@contextlib.contextmanager
def helper(call: Callable, api, volume: str, image: str, *, writable: bool, role: str, **create) -> Iterator[str]:
    """A created container with `volume` at the data directory, no network and no capabilities; removed on the
    way out. Not started here: a caller that must run something in it (`volume_files`) passes its command."""
    container = call(
        api.create_container,
        image=image,
        labels={LABEL_ROLE: role},
        volumes=[DATA_DIR],
        network_disabled=True,
        host_config=api.create_host_config(
            binds={volume: {"bind": DATA_DIR, "mode": "rw" if writable else "ro"}},
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        ),
        detach=True,
        **create,
    )["Id"]
    try:
        yield container
    finally:
        with contextlib.suppress(NotFound):
            call(api.remove_container, container, force=True)


@contextlib.contextmanager
def read(call: Callable, api, volume: str, image: str, path: str = "") -> Iterator[Iterator[bytes] | None]:
    """The chunks of a tar of `path` under the data directory (the whole volume when empty), or None when the
    volume or the path does not exist. The stream is read inside the block (the helper lives that long)."""
    try:
        call(api.inspect_volume, volume)
    except NotFound:
        yield None
        return
    with helper(call, api, volume, image, writable=False, role="volume-reader") as container:
        try:
            stream, _ = call(api.get_archive, container, f"{DATA_DIR}/{path}" if path else DATA_DIR, chunk_size=CHUNK)
        except NotFound:
            yield None
            return
        yield stream


def write(call: Callable, api, volume: str, image: str, chunks: Iterable[bytes]) -> None:
    """Unpacks a tar of the whole volume (as `read` gives it: its files under `.openclaw/`) into `volume`,
    which the caller has made. Owners and modes come from the tar (the container user's, uid 1000)."""
    with helper(call, api, volume, image, writable=True, role="volume-writer") as container:
        if not call(api.put_archive, container, HOME, _iterable(chunks)):
            raise OSError("the engine refused the volume's archive")


def _iterable(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # requests sends an iterator as a chunked body; a list or bytes would be sent whole.
    yield from chunks


class Counted:
    """Passes chunks through and counts their bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.bytes += len(chunk)
            yield chunk


class ChunkReader(io.RawIOBase):
    """A file object over chunks, for readers that want one (tarfile, boto3's upload)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def without(chunks: Iterable[bytes], names: frozenset[str] = frozenset({CONFIG_FILE})) -> Iterator[bytes]:
    """The same tar without the members named (relative to the volume's top), re-packed as it streams: at
    most one member is held at a time."""
    drop = {f"{TOP}/{name}" for name in names}
    sink = _Sink()
    source = io.BufferedReader(ChunkReader(chunks), CHUNK)
    with tarfile.open(fileobj=source, mode="r|") as tar_in, tarfile.open(fileobj=sink, mode="w|") as tar_out:
        for member in tar_in:
            if member.name in drop:
                continue
            tar_out.addfile(member, tar_in.extractfile(member) if member.isfile() else None)
            if (data := sink.drain()) != b"":
                yield data
    if (data := sink.drain()) != b"":
        yield data
