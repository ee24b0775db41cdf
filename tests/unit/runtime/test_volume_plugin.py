"""The hosts' volume plugin (infra/ansible, yourclaw-volumes) refuses a volume the disk could not hold once
every volume is full, and reads sizes as the control plane writes them. (Mounting is in the engine tests.)"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
PLUGIN = Path(__file__).resolve().parents[3] / "infra/ansible/roles/docker_host/files/yourclaw-volumes"


def _plugin():
    loader = importlib.machinery.SourceFileLoader("yourclaw_volumes", str(PLUGIN))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_sizes_read_as_the_control_plane_writes_them():
    plugin = _plugin()
    assert plugin.parse_size("2147483648") == 2 * 1024**3
    assert plugin.parse_size("2g") == plugin.parse_size("2G") == plugin.parse_size("2GiB") == 2 * 1024**3
    assert plugin.parse_size("64m") == 64 * 1024**2
    with pytest.raises(ValueError):
        plugin.parse_size("lots")


def test_a_volume_the_disk_could_not_hold_when_all_are_full_is_refused(tmp_path):
    plugin = _plugin()
    stat = os.statvfs(tmp_path)
    free = stat.f_bavail * stat.f_frsize
    volumes = plugin.Volumes(str(tmp_path / "img"), str(tmp_path / "mnt"), 64 * 1024**2, reserve=free // 2)
    # An existing sparse image that could still grow by almost everything above the reserve.
    with open(tmp_path / "img" / "someone.img", "wb") as image:
        image.truncate(free // 2 - 32 * 1024**2)
    assert volumes.headroom() <= free - (free // 2 - 32 * 1024**2) + 1024**2
    with pytest.raises(ValueError, match="not enough disk"):
        volumes.create("newcomer", {"size": str(64 * 1024**2)})
    assert sorted(os.listdir(tmp_path / "img")) == ["someone.img"]  # nothing half-made left


def test_bad_names_sizes_and_options_are_refused(tmp_path):
    plugin = _plugin()
    volumes = plugin.Volumes(str(tmp_path / "img"), str(tmp_path / "mnt"), 64 * 1024**2, reserve=0)
    for name, opts, why in (
        ("../escape", {}, "invalid volume name"),
        ("tiny", {"size": "1m"}, "below the minimum"),
        ("odd", {"size": "64m", "type": "xfs"}, "unknown options"),
    ):
        with pytest.raises(ValueError, match=why):
            volumes.create(name, opts)
    assert os.listdir(tmp_path / "img") == []
