"""CPU used during a benchmark's phases: by this process, by the groups of processes a benchmark names, and by
the whole machine. The machine has 2 cores shared with other work, and that work moves every figure, so each
benchmark prints what the rest of the machine used next to its own."""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common.report import say, table

TICK = os.sysconf("SC_CLK_TCK")

# A group is a list of (pid, with its exited children): PostgreSQL's backends come and go, and a postmaster's
# cutime/cstime is the only place the CPU of exited ones is left.
Groups = dict[str, list[tuple[int, bool]]]


def process_cpu(pid: int, *, children: bool = False) -> float:
    """utime + stime of `pid` in seconds, with its waited-for children's when asked; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based, as in proc(5)).
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def machine_cpu() -> tuple[float, float]:
    """CPU seconds since boot over all cores: (all, idle + iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) / TICK, (values[3] + values[4]) / TICK


class GcPauses:
    """This process's own collector pauses. A load generator holds every pre-signed request and every latency
    measured so far; a full collection over them stopped its loop for ~70 ms, and an open loop counts that
    lateness against the server. So each phase starts with that heap frozen, and the longest pause left is
    printed."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)

    def restart(self) -> None:
        gc.collect()
        gc.freeze()
        self.longest = 0.0


@dataclass
class CpuPhase:
    label: str
    wall: float
    groups: dict[str, float]  # CPU seconds, this process first
    machine_total: float  # CPU seconds the whole machine had (wall x cores)
    machine_busy: float  # CPU seconds the whole machine used
    longest_gc: float  # this process's longest collector pause, seconds (0 when not watched)


class CpuMeter:
    """CPU seconds per phase: this process under the name `own`, each group `groups()` names at the time (it is
    asked at both ends of a phase, so processes started meanwhile count), and the whole machine. With
    `gc_pauses`, each phase also starts with this process's heap frozen and notes its longest pause."""

    def __init__(
        self,
        groups: Callable[[], Groups] | None = None,
        *,
        own: str = "this process",
        gc_pauses: GcPauses | None = None,
    ) -> None:
        self.groups = groups or dict
        self.own = own
        self.gc_pauses = gc_pauses
        self.phases: list[CpuPhase] = []

    def _sample(self) -> tuple[dict[str, float], float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {self.own: usage.ru_utime + usage.ru_stime}
        for name, pids in self.groups().items():
            out[name] = sum(process_cpu(pid, children=kids) for pid, kids in pids)
        total, idle = machine_cpu()
        return out, total, idle

    @contextlib.contextmanager
    def phase(self, label: str):
        if self.gc_pauses is not None:
            self.gc_pauses.restart()
        before, total0, idle0 = self._sample()
        began = time.monotonic()
        try:
            yield
        finally:
            after, total1, idle1 = self._sample()
            groups = {k: max(0.0, after.get(k, 0.0) - before.get(k, 0.0)) for k in after}
            machine = max(1 / TICK, total1 - total0)
            busy = machine - (idle1 - idle0)
            longest = self.gc_pauses.longest if self.gc_pauses is not None else 0.0
            self.phases.append(CpuPhase(label, time.monotonic() - began, groups, machine, busy, longest))

    def last(self) -> CpuPhase:
        return self.phases[-1]

    def print_cores(self) -> None:
        """A table: cores used per group and phase, the rest of the machine, and a warning for each phase in
        which other work used more than a quarter of a core."""
        names: list[str] = []
        for p in self.phases:
            for k in p.groups:
                if k not in names:
                    names.append(k)
        header = ("phase", "wall", *names, "rest of machine", "machine")
        rows = []
        for p in self.phases:
            ours = sum(p.groups.values())
            cells = [f"{p.groups.get(n, 0.0) / p.wall:.2f}" for n in names]
            rest = max(0.0, p.machine_busy - ours) / p.wall
            rows.append((p.label, f"{p.wall:.1f} s", *cells, f"{rest:.2f}", f"{p.machine_busy / p.wall:.2f}"))
        say(f"CPU used, in cores (of {os.cpu_count()}), per phase:")
        table(rows, header)
        for p in self.phases:
            rest = max(0.0, p.machine_busy - sum(p.groups.values())) / p.wall
            if rest > 0.25:
                say(
                    f"WARNING: other work on this machine used {rest:.2f} cores during '{p.label}': "
                    "its figures say more about that contention than about the product"
                )

    def busy_line(self, own_description: str) -> str:
        """One line: per phase, the busy share of the whole machine and this process's share of it."""
        parts = [
            f"{p.label} {p.wall:.0f} s: {p.machine_busy / p.machine_total:.0%} / "
            f"{p.groups[self.own] / p.machine_total:.0%}"
            for p in self.phases
        ]
        return f"CPU busy, whole machine / {own_description}: " + "; ".join(parts) + "."
