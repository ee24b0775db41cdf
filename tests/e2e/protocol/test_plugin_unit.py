"""The channel plugin's own tests (`node --test`, the protocol against a fake control plane) on the pinned Node,
so they run wherever the rest of the suite runs."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness.openclaw_toolchain import PLUGIN_DIR, pinned_toolchain

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def test_the_plugins_node_tests_pass():
    chain = pinned_toolchain()
    files = sorted(str(f.relative_to(PLUGIN_DIR)) for f in PLUGIN_DIR.glob("test/*.test.js"))
    assert files, "the plugin has no tests"
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap", *files],
        cwd=PLUGIN_DIR,
        env=chain.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
