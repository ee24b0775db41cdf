"""Which files are the assistant's memory, and the snapshot the dashboard shows of them: in OpenClaw's order,
within the files and size caps, never a file outside the memory (its token, its instructions)."""

from __future__ import annotations

import io
import tarfile

import pytest

from yourclaw.runtime.memory import READ_PATHS, forget_paths, is_memory_path, snapshot

pytestmark = pytest.mark.unit


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "path",
    ["MEMORY.md", "USER.md", "DREAMS.md", "memory/2026-12-07.md", "memory/2026-12-07-trip.md", "memory/projects/x.md"],
)
def test_memory_files(path):
    assert is_memory_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "openclaw.json",
        "AGENTS.md",
        "memory/x.txt",
        "memory/.dreams/a.md",
        "memory/../MEMORY.md",
        "../MEMORY.md",
        "/MEMORY.md",
        "memory//x.md",
        "memory/",
        "memory",
        "./MEMORY.md",
        "memory/" + "a" * 300 + ".md",
    ],
)
def test_not_memory_files(path):
    assert not is_memory_path(path)
    with pytest.raises(ValueError):
        forget_paths(path)


def test_forgetting_everything_removes_the_root_files_and_the_notes_directory():
    assert forget_paths(None) == READ_PATHS
    assert forget_paths("memory/2026-12-07.md") == ["workspace/memory/2026-12-07.md"]


def test_the_snapshot_lists_memory_first_then_the_newest_notes_within_the_caps():
    archives = {
        "workspace/MEMORY.md": _tar({"MEMORY.md": b"tea"}),
        "workspace/USER.md": None,
        "workspace/memory": _tar(
            {
                "memory/2026-12-05.md": b"old",
                "memory/2026-12-07.md": b"newest note",
                "memory/2026-12-06.md": b"mid",
                "memory/.dreams/recall.json": b"{}",
                "memory/notes.txt": b"not markdown",
            }
        ),
    }
    files, total = snapshot(archives, max_bytes=1000, max_files=10)
    assert [f["path"] for f in files] == [
        "MEMORY.md",
        "memory/2026-12-07.md",
        "memory/2026-12-06.md",
        "memory/2026-12-05.md",
    ]
    assert total == 4 and not any(f["truncated"] for f in files)

    capped, total = snapshot(archives, max_bytes=8, max_files=3)
    assert total == 4
    assert [(f["path"], f["text"], f["bytes"], f["truncated"]) for f in capped] == [
        ("MEMORY.md", "tea", 3, False),
        ("memory/2026-12-07.md", "newes", 11, True),
        ("memory/2026-12-06.md", "", 3, True),
    ]
    assert snapshot({}, 10, 10) == ([], 0)
