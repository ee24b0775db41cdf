"""A real dockerd behind mutual TLS on 127.0.0.1, standing in for one Docker host in tests.

Each instance has its own bridge, data root, exec root and pidfile, so several run side by side on one
machine the way separate hosts would. The data root is meant to live in a cache directory that outlasts
the test run, so images built once stay built.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

import docker
import pytest

from yourclaw.runtime.certs import docker_client, make_host_cert

# Outlives the test run, so the engines' data roots keep their images from one run to the next.
CACHE_DIR = Path(os.environ.get("YOURCLAW_TEST_CACHE", "/var/cache/yourclaw-test"))
READY_DEADLINE_S = 60.0
# dockerd gives running containers 15 s to stop before it exits on SIGTERM.
STOP_DEADLINE_S = 30.0
LOG_TAIL_LINES = 40
LOCK_DEADLINE_S = 180.0
# The volume plugin the Docker hosts run (infra/ansible), giving each volume a disk of its own size.
VOLUME_PLUGIN = Path(__file__).resolve().parents[2] / "infra/ansible/roles/docker_host/files/yourclaw-volumes"
VOLUME_DRIVER = "yourclaw-volumes"
PLUGIN_READY_DEADLINE_S = 10.0


def ensure_installed(binary: str, package: str) -> None:
    """Install `package` with apt when `binary` is missing; skip the test when that is not possible."""
    if shutil.which(binary):
        return
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is not installed and installing {package} needs root")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode != 0:
            pytest.skip(f"{' '.join(argv)} failed, so no {binary}: {done.stderr.strip()[-500:]}")
    if not shutil.which(binary):
        pytest.skip(f"{package} installed but {binary} is still not on PATH")


def ensure_docker_installed() -> None:
    if os.geteuid() != 0:
        pytest.skip("a dockerd of our own needs root")
    ensure_installed("dockerd", "docker.io")


class TlsDockerd:
    """With `volume_plugin`, the engine runs in a mount namespace of its own, where the host's volume plugin
    (`yourclaw-volumes`) runs beside it: dockerd finds plugins only in the machine-wide /run/docker/plugins,
    which the namespace replaces with this engine's own directory, and the loop mounts the plugin makes must
    be seen by this dockerd and no other. When the namespace ends, its mounts go and the kernel frees their
    loop devices."""

    def __init__(
        self, name: str, port: int, tls_dir: Path, workdir: Path, *, volume_plugin: bool = False, reserve: str = "1g"
    ) -> None:
        if len(name) > 15:
            raise ValueError(f"{name!r} also names the bridge, and interface names stop at 15 characters")
        self.name = name
        self.port = port
        self.tls_dir = Path(tls_dir)
        self.workdir = Path(workdir)
        # unix sockets live in the exec root, and their paths must stay under 108 bytes.
        self.exec_root = Path(f"/tmp/ycd-{name}")
        self.pidfile = self.workdir / "docker.pid"
        self.logfile = self.workdir / "dockerd.log"
        self.docker_url = f"tcp://127.0.0.1:{port}"
        self.bridge_network = _bridge_network(name)
        self.bridge_gateway = str(next(self.bridge_network.hosts()))
        self.iptables: bool | None = None
        self.volume_plugin = volume_plugin
        self.plugin_reserve = reserve
        self.plugin_dir = self.workdir / "plugins"
        self.plugin_pidfile = self.workdir / "volumes.pid"
        # Where the volumes' images live (VOLUME_DISK_DIR on a host).
        self.disk_dir = self.workdir / "disks"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None

    def __enter__(self) -> TlsDockerd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def client(self, *, timeout: float = 30) -> docker.DockerClient:
        return docker_client(self.docker_url, self.tls_dir, timeout=timeout)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_engine(self.workdir / "lock", self.name)
        try:
            self._start()
        except BaseException:
            self._lock.close()
            raise

    def _start(self) -> None:
        self._stop_stale_instance()
        self.host_cert = make_host_cert(self.tls_dir, self.name, ips=["127.0.0.1"], dns=["localhost"])
        # Our own config file keeps a host-wide /etc/docker/daemon.json out of this engine. The key file is
        # where the engine's ID comes from: shared, every engine here would report the same ID, as no two
        # real hosts do.
        self.config_file = self.workdir / "daemon.json"
        self.config_file.write_text(json.dumps({"deprecated-key-path": str(self.workdir / "key.json")}) + "\n")
        self._create_bridge()
        try:
            try:
                self._run(iptables=True)
            except EngineExited:
                # Some kernels lack the netfilter pieces dockerd wants; the engine is still usable without.
                self._remove_iptables_rules()
                self._run(iptables=False)
        except BaseException:
            self._remove_iptables_rules()
            self._remove_bridge()
            raise

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc.pid, wait=self._proc.wait)
            self._proc = None
        self._stop_containerd()
        self._stop_volume_plugin()
        self._unmount_leftovers()
        self._remove_iptables_rules()
        self._remove_bridge()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _argv(self, *, iptables: bool) -> list[str]:
        return [
            "dockerd",
            "--config-file", str(self.config_file),
            "--tlsverify",
            "--tlscacert", str(self.host_cert.ca_cert),
            "--tlscert", str(self.host_cert.server_cert),
            "--tlskey", str(self.host_cert.server_key),
            "-H", f"tcp://127.0.0.1:{self.port}",
            "-H", f"unix://{self.workdir / 'docker.sock'}",
            "--data-root", str(self.workdir / "data"),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--bridge", self.name,
            f"--iptables={'true' if iptables else 'false'}",
        ]  # fmt: skip

    def _with_volume_plugin(self, argv: list[str]) -> list[str]:
        """dockerd's command line wrapped: a mount namespace, this engine's plugin directory at
        /run/docker/plugins, the plugin started in the background, then dockerd in the shell's place (so the
        pid we hold is dockerd's)."""
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        plugin = [
            sys.executable, str(VOLUME_PLUGIN),
            "--socket", str(self.plugin_dir / f"{VOLUME_DRIVER}.sock"),
            "--images", str(self.disk_dir),
            "--mounts", str(self.workdir / "volume-mounts"),
            "--reserve", self.plugin_reserve,
            "--pidfile", str(self.plugin_pidfile),
        ]  # fmt: skip
        script = (
            f"mkdir -p /run/docker/plugins && mount --bind {shlex.quote(str(self.plugin_dir))} /run/docker/plugins"
            f' && {{ {shlex.join(plugin)} & }} && exec "$@"'
        )
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]

    def _run(self, *, iptables: bool) -> None:
        argv = self._argv(iptables=iptables)
        if self.volume_plugin:
            self.plugin_pidfile.unlink(missing_ok=True)
            argv = self._with_volume_plugin(argv)
        with self.logfile.open("ab") as log:
            log.write(f"\n==== {time.strftime('%F %T')} iptables={iptables}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.iptables = iptables
        try:
            self._wait_ready()
            if self.volume_plugin:
                self._wait_plugin_ready()
        except BaseException:
            _terminate(self._proc.pid, wait=self._proc.wait)
            self._proc = None
            self._stop_containerd()
            self._stop_volume_plugin()
            raise

    def _wait_plugin_ready(self) -> None:
        deadline = time.monotonic() + PLUGIN_READY_DEADLINE_S
        while _read_pid(self.plugin_pidfile) is None:
            if time.monotonic() >= deadline:
                raise EngineDidNotStart(f"the volume plugin of {self.name} did not start:\n{self._log_tail()}")
            time.sleep(0.05)

    def _stop_volume_plugin(self) -> None:
        pid = _read_pid(self.plugin_pidfile)
        if pid is not None and _cmdline_has(pid, str(self.plugin_pidfile)):
            _terminate(pid, wait=lambda timeout: _wait_gone(pid, timeout))
        self.plugin_pidfile.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + READY_DEADLINE_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            client = docker_client(self.docker_url, self.tls_dir, timeout=2)
            try:
                client.version()
                return
            except Exception as e:  # any failure here means "not yet"
                last_error = e
            finally:
                client.close()
            try:
                # Doubles as the poll interval and notices at once if dockerd gave up.
                code = self._proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            raise EngineExited(f"dockerd {self.name} exited with {code}:\n{self._log_tail()}")
        raise EngineDidNotStart(
            f"dockerd {self.name} did not answer on {self.docker_url} within {READY_DEADLINE_S:.0f} s "
            f"({last_error}):\n{self._log_tail()}"
        )

    def log_offset(self) -> int:
        try:
            return self.logfile.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_log(self, text: str, *, since: int, timeout: float = 10) -> bool:
        """Whether dockerd writes `text` to its log after byte `since`, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.logfile.open("rb") as log:
                log.seek(since)
                if text.encode() in log.read():
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _stop_stale_instance(self) -> None:
        """A crashed earlier run may have left this engine's dockerd running; only that one is touched.

        Holding the engine's lock means no live test session owns whatever the pidfile names.
        """
        pid = _read_pid(self.pidfile)
        if pid is not None and _is_process(pid, "dockerd", str(self.pidfile)):
            _terminate(pid, wait=lambda timeout: _wait_gone(pid, timeout))
        # dockerd refuses to start while its pidfile names any live process, even a stranger reusing the pid.
        self.pidfile.unlink(missing_ok=True)
        self._stop_containerd()
        self._stop_volume_plugin()
        self._unmount_leftovers()
        self._remove_iptables_rules()
        self._remove_bridge()

    def _stop_containerd(self) -> None:
        # dockerd stops the containerd it started, except when dockerd itself was killed.
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        pid = _read_pid(pidfile)
        if pid is not None and _is_process(pid, "containerd", str(self.exec_root)):
            _terminate(pid, wait=lambda timeout: _wait_gone(pid, timeout))

    def _unmount_leftovers(self) -> None:
        # dockerd bind-mounts its data root onto itself and mounts layers and namespaces beneath both roots;
        # a killed dockerd leaves them, and they stack up on every restart.
        unmount_under(self.workdir / "data")
        unmount_under(self.exec_root)
        shutil.rmtree(self.exec_root, ignore_errors=True)

    def _create_bridge(self) -> None:
        taken = addresses_in_use()
        clash = [a for a in taken if a in self.bridge_network]
        if clash:
            raise RuntimeError(f"{self.bridge_network} for bridge {self.name} is already used by {clash}")
        _ip("link", "add", self.name, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.bridge_gateway}/{self.bridge_network.prefixlen}", "dev", self.name)
            _ip("link", "set", self.name, "up")
        except BaseException:
            self._remove_bridge()
            raise

    def _remove_bridge(self) -> None:
        if _link_exists(self.name):
            _ip("link", "del", self.name)

    def _remove_iptables_rules(self) -> None:
        """Drop the rules dockerd added for this engine's bridge; it leaves them behind when it stops."""
        if not shutil.which("iptables"):
            return
        subnet = str(self.bridge_network)
        for table in ("filter", "nat"):
            listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True)
            for rule in listing.stdout.splitlines():
                words = shlex.split(rule)
                if words[:1] == ["-A"] and (self.name in words or subnet in words):
                    subprocess.run(["iptables", "-w", "-t", table, "-D", *words[1:]], capture_output=True)


class EngineDidNotStart(RuntimeError):
    pass


class EngineExited(EngineDidNotStart):
    pass


def _lock_engine(path: Path, name: str) -> IO[bytes]:
    """Hold the engine's lock, waiting a while for another test session using the same engine to finish.

    The lock dies with the process that holds it, so an engine whose session crashed is free to reclaim.
    """
    lock = path.open("ab")
    deadline = time.monotonic() + LOCK_DEADLINE_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock.close()
                raise EngineDidNotStart(
                    f"engine {name} is still in use by another test session after {LOCK_DEADLINE_S:.0f} s"
                ) from None
            time.sleep(0.5)


def unmount_under(path: Path) -> None:
    """Unmount everything mounted at or below `path`, deepest first."""
    root = str(path.resolve())
    mounts = [line.split()[1].replace("\\040", " ") for line in Path("/proc/self/mounts").read_text().splitlines()]
    ours = [m for m in mounts if m == root or m.startswith(root + "/")]
    for mount in sorted(ours, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


def _bridge_network(name: str) -> ipaddress.IPv4Network:
    third = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % 254 + 1
    return ipaddress.IPv4Network(f"10.231.{third}.0/24")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def addresses_in_use() -> list[ipaddress.IPv4Address]:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    return [
        ipaddress.IPv4Address(info["local"]) for link in json.loads(out or "[]") for info in link.get("addr_info", [])
    ]


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_process(pid: int, comm: str, cmdline_marker: str) -> bool:
    """True when `pid` is a `comm` process whose command line mentions our own path (not a reused pid)."""
    try:
        actual = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return actual == comm and cmdline_marker in cmdline


def _cmdline_has(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return marker in cmdline


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(f"pid {pid}", timeout)
        time.sleep(0.1)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _terminate(pid: int, *, wait: Callable[..., object]) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait(timeout=STOP_DEADLINE_S)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait(timeout=STOP_DEADLINE_S)
