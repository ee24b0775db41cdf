"""The report: facts about the machine, the detail lines each phase adds, and the rows of measures with their
targets and verdicts; with the helpers that turn passes and Docker calls into lines."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from _common.report import say
from _common.stats import pct

from _reconcile.instruments import Call, CallLog, PassRecord
from _reconcile.lab import Lab


@dataclass
class Report:
    facts: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # what, value, target, verdict
    detail: list[str] = field(default_factory=list)

    def row(self, what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((what, value, target, "" if ok is None else ("PASS" if ok else "MISS")))


def print_report(report: Report, lab: Lab | None, started: float) -> None:
    say("")
    say("=" * 100)
    say("Reconciler benchmark")
    for key, value in report.facts:
        say(f"  {key:<24} {value}")
    say("-" * 100)
    for line in report.detail:
        say(line)
    if lab is not None:
        say(f"Control-plane log (JSON lines): {lab.log_path}")
    say("-" * 100)
    width = max((len(r[0]) for r in report.rows), default=40)
    say(f"{'measure':<{width}}  {'value':<28} {'target':<12} verdict")
    for what, value, target, verdict in report.rows:
        say(f"{what:<{width}}  {value:<28} {target:<12} {verdict}")
    for note in report.notes:
        say(f"note: {note}")
    say(f"total run time {time.time() - started:.0f} s")
    say("=" * 100)


def spread(values: list[float]) -> str:
    """p50 / p95 / max, in seconds."""
    if not values:
        return "   n/a    n/a    n/a"
    return f"{pct(values, 0.5):6.2f} {pct(values, 0.95):6.2f} {max(values):6.2f}"


def summarize_passes(records: list[PassRecord], start: float, end: float) -> list[str]:
    lines = []
    for index, rec in enumerate(r for r in records if start - 0.001 <= r.started + r.seconds and r.started <= end):
        actions = ", ".join(f"{n} {k}" for k, n in sorted(rec.actions.items())) or "none"
        extra = f"  ERROR {rec.error}" if rec.error else ""
        extra += f"  unreachable: {rec.unreachable}" if rec.unreachable else ""
        lines.append(
            f"    pass {index + 1:>2}: +{rec.started - start:6.2f} s  took {rec.seconds:6.2f} s  "
            f"{rec.api_calls:>4} Docker calls  actions: {actions}{extra}"
        )
    return lines


def call_stats(calls: list[Call]) -> list[str]:
    by_method: dict[str, list[float]] = defaultdict(list)
    failed: Counter[str] = Counter()
    for call in calls:
        by_method[call.method].append(call.ended - call.started)
        if not call.ok:
            failed[call.method] += 1
    lines = []
    for method in sorted(by_method):
        values = by_method[method]
        lines.append(
            f"    {method:<16} n={len(values):>4}  p50 {pct(values, 0.5):5.2f} s  p95 {pct(values, 0.95):5.2f} s  "
            f"max {max(values):5.2f} s" + (f"  failed {failed[method]}" if failed[method] else "")
        )
    return lines


def loop_line(passes: list[PassRecord]) -> str:
    slow = [p for p in passes if p.seconds > 1.0]
    failed = [p for p in passes if p.error]
    return (
        f"Reconciler loop: {len(passes)} passes, {len(failed)} failed, {len(slow)} longer than 1 s "
        f"(longest {max((p.seconds for p in passes), default=0):.2f} s)."
    )


def reconciler_activity(
    passes: list[PassRecord], calls: CallLog, start: float, end: float, during: str, since: str
) -> list[str]:
    """The passes the loop ran between `start` and `end`, and the Docker calls it made meanwhile."""
    return [
        f"  Reconciler passes {during} (time from {since}):",
        *summarize_passes(passes, start, end),
        f"  Docker calls made by the reconciler {during}:",
        *call_stats(calls.between(start, end)),
    ]
