"""Printing figures: each line flushed at once (a run takes minutes, its progress should show), a plain
text table, the units figures print in, and the machine they were measured on."""

from __future__ import annotations

import os
import platform


def say(*parts: object) -> None:
    print(*parts, flush=True)


def ms(value: float) -> str:
    """Seconds as milliseconds; "n/a" for NaN (a percentile of nothing)."""
    return "n/a" if value != value else f"{value * 1000:.1f} ms"


def secs(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    say("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    say("  ".join("-" * w for w in widths))
    for row in rows:
        say("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine_summary() -> str:
    """Cores, Python and load: other work on a shared machine moves every figure, so it is printed first."""
    return (
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"load average {load_average()}"
    )
