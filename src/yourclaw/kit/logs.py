"""JSON logs through structlog, carrying request_id and user_id from context; secrets are scrubbed."""

from __future__ import annotations

import logging
import re
import sys
import traceback

import structlog
from sqlalchemy.exc import StatementError

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


def masked_phone(e164: str) -> str:
    """A phone number as an operator may see it: the country code's first digits and the last two, so a user
    reading theirs out can be matched, and nothing that lets anyone dial it (`+4179*****67`)."""
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:4] + "*" * (len(e164) - 6) + e164[-2:]


def _quotes_data(exc: BaseException) -> bool:
    """A database error's message can quote the values or the whole row it refused (`invalid input ...:
    "+1415..."`, `DETAIL: Failing row contains (...)`): the driver's (asyncpg, and SQLAlchemy's adaptation
    of it) and SQLAlchemy's statement errors, which repeat it."""
    module = type(exc).__module__
    return isinstance(exc, StatementError) or module.startswith(("asyncpg", "sqlalchemy.dialects"))


def _message(exc: BaseException) -> str:
    if not _quotes_data(exc):
        return str(exc)
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    names = [
        f"{attribute}={value}"
        for attribute in ("constraint_name", "table_name", "column_name")
        if (value := getattr(exc, attribute, None))
    ]
    return " ".join([f"sqlstate={code}" if code else "", *names, "(message withheld: it may quote row values)"]).strip()


def format_exception(exc: BaseException) -> str:
    """The traceback as Python prints it, chained exceptions included, with the message of each database
    error replaced by its SQLSTATE and the names of what failed."""
    chain: list[tuple[BaseException, str]] = []
    current: BaseException | None = exc
    link = ""
    while current is not None and all(current is not seen for seen, _ in chain):
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = (
                current.__cause__,
                "\nThe above exception was the direct cause of the following exception:\n\n",
            )
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = (
                current.__context__,
                "\nDuring handling of the above exception, another exception occurred:\n\n",
            )
        else:
            current = None
    lines: list[str] = []
    for item, following in reversed(chain):
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(item.__traceback__))
        lines.append(f"{type(item).__module__}.{type(item).__qualname__}: {_message(item)}\n")
        lines.append(following)
    return "".join(lines).rstrip("\n")


def _format_exc_info(_logger, _name, event_dict: dict) -> dict:
    """structlog's `format_exc_info`, through `format_exception`."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(exc, BaseException):
        event_dict["exception"] = format_exception(exc)
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
            _format_exc_info,
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
