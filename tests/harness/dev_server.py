"""`yourclaw dev` in a child process, as a newcomer runs it: the pages, the API, the reconciler, the stand-in
assistants, the sender and the local Twilio and Stripe stand-ins, on the tests' PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.database import truncate_at
from tests.harness.log_scan import SCAN
from tests.harness.ports import free_port
from tests.harness.settings import PROJECT_ROOT
from yourclaw.kit.settings import Settings

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"
STARTUP_TIMEOUT = 120.0
ANNOUNCE = "YourClaw is running"


class DevServer:
    """`yourclaw dev` in a child process: started and stopped by this fixture alone (by its own pid)."""

    def __init__(self, database_url: str, workdir: Path, name: str = "yourclaw-dev", **extra_env: str) -> None:
        self.port = free_port()
        self.extra_env = extra_env
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"{name}.log"
        self.workdir = workdir
        self.database_url = database_url
        self.ready = threading.Event()
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        # Nothing of the developer's own configuration leaks in: every setting is ours or a default.
        settings_names = {name.upper() for name in Settings.__struct_fields__}
        env = {k: v for k, v in os.environ.items() if k not in settings_names and not k.startswith("STANDIN_")}
        env.update(
            DATABASE_URL=self.database_url,
            YOURCLAW_STATE_DIR=str(self.workdir / "state"),
            MOCK_TWILIO="true",
            MOCK_STRIPE="true",
            MOCK_CONTAINERS="true",
            RECONCILE_INTERVAL="1",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yourclaw", "dev", "--port", str(self.port)],
            cwd=self.workdir,  # no .env of the repository is read
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._copy_output, name="yourclaw-dev-log", daemon=True).start()
        if not self.ready.wait(STARTUP_TIMEOUT) or self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"yourclaw dev did not start in {STARTUP_TIMEOUT:g} s; see {self.log_path}")

    def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.process.stdout:
                SCAN.collect(line, self.log_path.name)
                log.write(line)
                log.flush()
                if ANNOUNCE in line:
                    self.ready.set()
        self.ready.set()  # the process ended: whoever waits must not wait for nothing

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def running_dev_server(database_url: str, name: str = "yourclaw-dev", **extra_env: str) -> Iterator[DevServer]:
    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-browser-"))
    server = DevServer(database_url, workdir, name, **extra_env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        # Playwright's sync API keeps an event loop in this thread: empty the tables from another one.
        cleaner = threading.Thread(target=lambda: asyncio.run(truncate_at(database_url)), name="truncate")
        cleaner.start()
        cleaner.join(60)
        shutil.rmtree(workdir, ignore_errors=True)
