"""The workspace's levels and sizes as a user reads them, and the volume options a container spec asks for."""

from __future__ import annotations

import uuid

import pytest

from tests.harness.settings import make_settings
from yourclaw.runtime import workspace
from yourclaw.runtime.container_spec import spec_for

pytestmark = pytest.mark.unit
MB = 1024**2


@pytest.mark.parametrize(
    ("used", "size", "expected"),
    [
        (120 * MB, 2048 * MB, "ok"),
        (1844 * MB, 2048 * MB, "nearly_full"),  # just past 90%
        (2008 * MB, 2048 * MB, "full"),  # 2% left
        (0, 0, None),
        (None, 2048 * MB, None),
    ],
)
def test_levels(used, size, expected):
    assert workspace.level(used, size, 90) == expected


def test_sizes_read_as_a_user_reads_them():
    assert workspace.human_bytes(120 * MB) == "120 MB"
    assert workspace.human_bytes(2 * 1024 * MB) == "2 GB"
    assert workspace.human_bytes(1946 * MB) == "1.9 GB"
    assert workspace.human_bytes(512) == "512 bytes"


def test_the_volume_is_asked_for_at_its_size_only_from_a_driver_that_takes_one():
    user = uuid.uuid4()
    local = spec_for(make_settings("postgresql://u:p@127.0.0.1:1/db"), user, None)
    assert local.volume_driver == "local" and local.volume_options() == {}
    sized = spec_for(
        make_settings("postgresql://u:p@127.0.0.1:1/db", VOLUME_DRIVER="yourclaw-volumes", VOLUME_SIZE="64m"),
        user,
        None,
    )
    assert sized.volume_options() == {"size": str(64 * MB)}
    # A new size applies to new volumes: it recreates no container.
    assert sized.spec_hash == local.spec_hash
