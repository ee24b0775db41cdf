"""The pinned OpenClaw for tests: infra/image/toolchain.py (shared with build.sh), installed from npm into a
cache outside the repository when missing, and a state directory with our plugin installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "infra" / "image" / "plugin"


def _load_toolchain_module():
    spec = importlib.util.spec_from_file_location("yourclaw_image_toolchain", REPO / "infra" / "image" / "toolchain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


toolchain = _load_toolchain_module()


def pinned_toolchain():
    """The toolchain, or a skip with the reason when npm cannot reach a registry (nothing else skips)."""
    try:
        return toolchain.ensure()
    except toolchain.ToolchainUnavailable as exc:
        pytest.skip(f"the pinned OpenClaw cannot be installed: {exc}")


def install_plugin(chain, state_dir: Path) -> None:
    """`openclaw plugins install` as the image does it (ours and the Brave provider), into a state directory of
    the test's own."""
    run(chain, state_dir, "plugins", "install", "--link", str(PLUGIN_DIR), "--force", "--accept-capabilities")
    try:
        brave = toolchain.ensure_plugin("brave")
    except toolchain.ToolchainUnavailable as exc:
        pytest.skip(f"the pinned Brave plugin cannot be fetched: {exc}")
    run(chain, state_dir, "plugins", "install", "--link", str(brave), "--force", "--accept-capabilities")


def run(
    chain, state_dir: Path, *args: str, config: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    env = chain.env(OPENCLAW_STATE_DIR=str(state_dir), HOME=str(state_dir), NO_COLOR="1")
    if config is not None:
        env["OPENCLAW_CONFIG_PATH"] = str(config)
    done = subprocess.run(chain.command(*args), env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and args[:1] != ("config",):
        raise AssertionError(f"openclaw {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done
