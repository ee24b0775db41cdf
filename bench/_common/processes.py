"""The processes a benchmark starts: recorded by pid in its temp dir as they start, stopped by pid at the end.
What a killed run left is stopped at the next start, and only a pid whose command line or environment names
that run's temp dir counts as its own: a recorded pid may have been reused by anything since."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterable
from pathlib import Path

import httpx

from _common.cpu import Groups, children_of
from _common.report import say

PIDS_FILE = "pids.json"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mentions(pid: int, marker: str) -> bool:
    """True when the process's command line or environment names `marker` (a run's temp dir)."""
    for name in ("cmdline", "environ"):
        try:
            if marker.encode() in Path(f"/proc/{pid}/{name}").read_bytes():
                return True
        except OSError:
            pass
    return False


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
    """`sig`, then SIGKILL if it is still there after `wait` seconds."""
    if not alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def postmaster_pid(data_dir: Path) -> int | None:
    """PostgreSQL's own pid, from the first line of its data dir's postmaster.pid."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def clean_leftovers(prefix: str) -> None:
    """Stops what a killed earlier run left behind (its pids are in its temp dir, its PostgreSQL in `pg`
    there) and removes the dir."""
    for old in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            pids = json.loads((old / PIDS_FILE).read_text())
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            if alive(pid) and mentions(pid, str(old)):
                stop_pid(pid, wait=5)
        pg = postmaster_pid(old / "pg")
        if pg is not None and alive(pg) and mentions(pg, str(old)):
            stop_pid(pg, sig=signal.SIGINT, wait=10)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(old, ignore_errors=True)
        say(f"removed the leftovers of an earlier run in {old}")


class Procs:
    """Every child started here, recorded in the temp dir as it starts, stopped by pid at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: dict[str, subprocess.Popen] = {}

    def _record(self) -> None:
        pids = [p.pid for p in self.children.values()]
        (self.workdir / PIDS_FILE).write_text(json.dumps(pids))

    def start(self, name: str, argv: list[str], env: dict[str, str], *, log: Path, stdout=None) -> subprocess.Popen:
        with open(log, "ab") as err:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else err,
                stderr=err,
                start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children in order
            )
        self.children[name] = proc
        self._record()
        return proc

    def stop(self, names: Iterable[str] | None = None) -> None:
        chosen = list(self.children) if names is None else [n for n in names if n in self.children]
        for name in chosen:  # signal all first, then wait: a hundred stand-ins stop in parallel
            proc = self.children[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name in chosen:
            proc = self.children.pop(name)
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._record()


async def wait_http(url: str, proc: subprocess.Popen, what: str, *, log: Path, timeout: float = 120) -> None:
    """Until `url` answers below 500 (the API's health says 503 until it is ready), or `proc` exits."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url} in {timeout:g} s; see {log}")


def interrupt_on_sigterm() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so a benchmark stopped either way stops what it started.
    SIGINT's handler is set again: a shell starts `cmd &` with SIGINT ignored."""

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_interruptibly(main: Coroutine[object, object, int]) -> int:
    """Runs a benchmark's `main` to its exit code; stopped by SIGTERM or SIGINT, its clean-up has run: 130."""
    interrupt_on_sigterm()
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        say("interrupted: everything started was stopped")
        return 130


def process_groups(procs: Procs, serve_pid: int, pg_pid: int | None) -> Groups:
    """`serve`, PostgreSQL (postmaster with its exited backends, and the live ones), the worker and the
    stand-ins (every child named `standin…`), as they are now: a benchmark may start some of them later."""
    out: Groups = {"serve": [(serve_pid, False)]}
    if pg_pid:
        out["postgres"] = [(pg_pid, True)] + [(p, False) for p in children_of(pg_pid)]
    worker = procs.children.get("worker")
    if worker is not None:
        out["worker"] = [(worker.pid, False)]
    standins = [(p.pid, False) for n, p in procs.children.items() if n.startswith("standin")]
    if standins:
        out["stand-ins"] = standins
    return out
