"""What the reconciler renders from settings and a user's row besides the model: heartbeats' waking hours from
the quiet hours, and the user's time zone only when it is one we know."""

from __future__ import annotations

import pytest

from tests.harness.settings import make_settings
from yourclaw.runtime import desired
from yourclaw.runtime.openclaw_config import ActiveHours

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("quiet", "active"),
    [
        ("22:00-08:00", ActiveHours("08:00", "22:00")),
        ("01:30-09:00", ActiveHours("09:00", "01:30")),  # across midnight, as OpenClaw reads it
        ("00:00-07:00", ActiveHours("07:00", "24:00")),
        ("off", None),
        ("08:00-08:00", None),
    ],
)
def test_heartbeats_run_outside_the_quiet_hours(quiet, active):
    assert desired.active_hours(make_settings("postgresql+asyncpg://x/y", QUIET_HOURS=quiet)) == active


@pytest.mark.parametrize(
    ("stored", "rendered"),
    [("Europe/Paris", "Europe/Paris"), ("UTC", "UTC"), ("Mars/Olympus", None), ("", None), (None, None)],
)
def test_only_a_known_time_zone_reaches_the_config(stored, rendered):
    assert desired.known_timezone(stored) == rendered
