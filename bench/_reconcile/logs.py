"""The control plane's logs: to a file of their own (they would drown the figures), with its warnings and
errors counted per phase for the report."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import structlog

from yourclaw.kit.logs import configure_logging


class LogTally:
    def __init__(self) -> None:
        self.phase = "setup"
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.examples: dict[tuple[str, str, str], dict] = {}

    def processor(self, _logger, _name, event_dict: dict) -> dict:
        level = event_dict.get("level", "info")
        if level in ("warning", "error", "critical", "exception"):
            key = (self.phase, level, str(event_dict.get("event")))
            self.counts[key] += 1
            self.examples.setdefault(key, {k: v for k, v in event_dict.items() if k not in ("timestamp",)})
        return event_dict


def route_logs(path: Path, tally: LogTally):
    configure_logging("INFO")
    handle = path.open("w", buffering=1)
    processors = list(structlog.get_config()["processors"])
    processors.insert(2, tally.processor)  # after merge_contextvars and add_log_level
    structlog.configure(processors=processors, logger_factory=structlog.PrintLoggerFactory(file=handle))
    logging.basicConfig(level=logging.WARNING, stream=handle, format="%(name)s %(levelname)s %(message)s", force=True)
    return handle


def log_summary(tally: LogTally) -> list[str]:
    if not tally.counts:
        return ["Control-plane warnings and errors: none."]
    lines = ["Control-plane warnings and errors (phase, level, event: count; first example):"]
    for key, count in sorted(tally.counts.items()):
        example = {k: v for k, v in tally.examples[key].items() if k not in ("level", "event")}
        lines.append(f"    {key[0]:<13} {key[1]:<8} {key[2]}: {count}  {json.dumps(example, default=str)[:300]}")
    return lines
