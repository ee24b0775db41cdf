"""Instruments around the reconciler, from the outside (no reconciler code changes): every Docker call its
host clients make, timed, and every pass it runs, recorded."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler


@dataclass
class Call:
    host: str
    method: str
    started: float
    ended: float
    key: str | None  # user id for create, container id otherwise
    ok: bool


class CallLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.user_of: dict[str, str] = {}  # container id -> user id
        self._lock = threading.Lock()

    def add(self, call: Call, result: object) -> None:
        with self._lock:
            self.calls.append(call)
            if call.method == "create" and call.ok and isinstance(result, str) and call.key:
                self.user_of[result] = call.key

    def between(self, start: float, end: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if start <= c.started <= end]


TIMED = {"list_containers", "list_volumes", "create", "start", "remove", "write_files", "read_file", "exit_info"}


class TimedHost:
    """Wraps a HostClient: every call in TIMED is logged with its duration; the rest passes through."""

    def __init__(self, inner, log: CallLog) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if name not in TIMED or not callable(attr):
            return attr

        def timed(*args, **kwargs):
            started, ok, result = time.time(), False, None
            try:
                result = attr(*args, **kwargs)
                ok = True
                return result
            finally:
                first = args[0] if args else None
                key = (
                    str(first.user_id)
                    if name == "create" and first is not None
                    else (first if isinstance(first, str) else None)
                )
                self._log.add(Call(self._inner.name, name, started, time.time(), key, ok), result)

        return timed


def timed_factory(settings, log: CallLog) -> Callable:
    inner = host_factory(settings)
    return lambda row: TimedHost(inner(row), log)


@dataclass
class PassRecord:
    started: float
    seconds: float
    api_calls: int
    actions: Counter
    unreachable: list[str]
    error: str | None = None


def record_passes(reconciler: Reconciler, records: list[PassRecord]) -> None:
    original = reconciler.run_pass

    async def run_pass(**kwargs):
        started = time.time()
        try:
            report = await original(**kwargs)
        except BaseException as exc:
            records.append(PassRecord(started, time.time() - started, 0, Counter(), [], f"{type(exc).__name__}: {exc}"))
            raise
        actions = Counter(type(a).__name__ for a in report.actions)
        records.append(PassRecord(started, report.seconds, report.api_calls, actions, list(report.unreachable)))
        return report

    reconciler.run_pass = run_pass  # the loop calls self.run_pass(): this instance attribute
