"""JSON logs through structlog, carrying request_id and user_id from context; secrets are scrubbed."""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|apikey|key|cookie|signature)", re.I)
_SAFE_KEYS = {"dedupe_key", "idempotency_key", "key_hint", "token_hash_prefix"}


def _scrub(_logger, _name, event_dict: dict) -> dict:
    """Drop the value of any field whose name says it is a secret, whatever the caller passed. Counts and
    flags (`input_tokens=1200`, `own_key=True`) carry no secret and stay readable."""
    for key, value in list(event_dict.items()):
        if key in _SAFE_KEYS or not _SECRET_KEYS.search(key):
            continue
        if value is None or isinstance(value, bool | int | float):
            continue
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolve stderr at each call, not once: whoever replaces sys.stderr later (a test capture, a
        # daemon's redirect) still gets the lines, and a closed old stream is never written to.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library end up as plain lines at WARNING and above.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s")
    for noisy in ("uvicorn.access", "httpx", "httpcore", "docker", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
