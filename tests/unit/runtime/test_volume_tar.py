"""The volume's tar as it streams (`runtime.volume_tar`) and backup retention (`runtime.backups.expired`)."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta

import pytest

from yourclaw.runtime.backups import expired
from yourclaw.runtime.volume_tar import ChunkReader, Counted, without

pytestmark = pytest.mark.unit


def _volume_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        top = tarfile.TarInfo(".openclaw")
        top.type, top.uid = tarfile.DIRTYPE, 1000
        tar.addfile(top)
        for name, data in files.items():
            info = tarfile.TarInfo(f".openclaw/{name}")
            info.size, info.uid, info.mode = len(data), 1000, 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _chunks(data: bytes, size: int = 777) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_backup_leaves_the_config_out_and_keeps_everything_else_with_its_owner():
    big = bytes(range(256)) * 4000
    source = _volume_tar({"openclaw.json": b'{"token":"x"}', "workspace/MEMORY.md": b"tea", "state.db": big})
    counted = Counted(without(_chunks(source)))
    out = b"".join(counted)
    assert counted.bytes == len(out)
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {".openclaw", ".openclaw/workspace/MEMORY.md", ".openclaw/state.db"}
        assert tar.extractfile(members[".openclaw/state.db"]).read() == big
        assert members[".openclaw/workspace/MEMORY.md"].uid == 1000


def test_chunks_read_as_a_file():
    reader = io.BufferedReader(ChunkReader(_chunks(b"abcdefghij" * 100, 7)))
    assert reader.read() == b"abcdefghij" * 100


def test_retention_keeps_the_newest_n_and_nothing_past_the_days_but_the_newest():
    now = datetime(2026, 12, 7, tzinfo=UTC)
    daily = [now - timedelta(days=i) for i in range(10)]
    assert expired(daily, keep=7, keep_days=30, now=now) == [7, 8, 9]
    assert expired(daily, keep=7, keep_days=3.5, now=now) == [4, 5, 6, 7, 8, 9]
    assert expired([now - timedelta(days=90)], keep=7, keep_days=1, now=now) == []
