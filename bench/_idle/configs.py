"""The two configs the bench compares: what main rendered before this change (`before`) and what the
renderer renders now (`after`), both through the reconciler, for the same image."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

from yourclaw.runtime import openclaw_config

BEFORE, AFTER = "before", "after"
# The commit whose renderer `before` reproduces.
BEFORE_COMMIT = "e62d1c0"


def todays_main(config: dict) -> dict:
    """The config main rendered at BEFORE_COMMIT for the same assistant: the user's model for everything
    (heartbeats hourly around the clock, recaps, compaction, the memory flush, dreaming), OpenClaw's defaults
    for the rest (the weekly skill review, the remote model catalogue, 128,000 output tokens a turn)."""
    before = copy.deepcopy(config)
    defaults = before["agents"]["defaults"]
    before["agents"]["defaults"] = {
        "model": defaults["model"],
        "heartbeat": {"target": "owner", "every": "1h", "isolatedSession": True, "lightContext": True},
        "compaction": {"memoryFlush": {"enabled": True}},
        "contextPruning": {"mode": "cache-ttl"},
    }
    anthropic = before["models"]["providers"]["anthropic"]
    before["models"] = {"providers": {"anthropic": {k: anthropic[k] for k in ("baseUrl", "api", "apiKey")}}}
    del before["skills"]
    before["plugins"]["entries"] = {openclaw_config.PLUGIN_ID: {"enabled": True}}
    return before


@contextlib.contextmanager
def rendering(which: str) -> Iterator[None]:
    """The reconciler renders `which` while inside (the renderer is looked up by module at each render)."""
    current = openclaw_config.render
    if which == BEFORE:
        openclaw_config.render = lambda **kwargs: todays_main(current(**kwargs))
    try:
        yield
    finally:
        openclaw_config.render = current
