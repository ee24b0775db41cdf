"""Fixtures of the end-to-end run: the stack of `stack.py` (an engine and image per session, a control plane
per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import _truncate
from tests.e2e.journey_support import ControlPlane, OpenClawEngine
from tests.e2e.stack import ImageUnavailable, control_plane_stack, openclaw_engine_stack
from tests.engine.dockerd import ensure_docker_installed


@pytest.fixture(scope="session")
def openclaw_engine() -> Iterator[OpenClawEngine]:
    ensure_docker_installed()
    try:
        stack = openclaw_engine_stack()
        engine = stack.__enter__()
    except ImageUnavailable as exc:
        pytest.skip(f"the pinned OpenClaw cannot be installed from npm: {exc}")
    try:
        yield engine
    finally:
        stack.__exit__(None, None, None)


@pytest.fixture
async def control_plane(openclaw_engine, database_url, sessions, engine, tmp_path) -> AsyncIterator[ControlPlane]:
    try:
        async with control_plane_stack(openclaw_engine, database_url, sessions, tmp_path) as cp:
            yield cp
    finally:
        await _truncate(engine)
