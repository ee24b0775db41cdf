"""What a whole test run's product logs must never hold: secrets, tokens, phone numbers, message bodies.

Product log lines reach the scan two ways: what pytest captured of each test (stdout, stderr and log records:
the product logs through structlog to stderr, and through the standard library), and what a product process
a test started printed (`yourclaw dev`, ...; `collect`). What to look for is known two ways too:
- shapes that are secret whatever their value: an unmasked E.164 number (a masked one, `+1415•••2671`, is
  fine), an assistant token, a JWT, a Stripe or Anthropic key;
- values the tests gave the product (`register`): every message body and phone number the database held when a
  test's tables were emptied (`harvest`, called by `tests.harness.database.truncate`), and the secrets the
  tests' settings carry.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

# Shorter values (a "hi", a "STOP") would match ordinary words of ordinary lines; so would a body that is one
# plain word ("proactive", a stand-in command), which says nothing of anyone.
MIN_VALUE_LENGTH = 8
_ONE_WORD = re.compile(r"[A-Za-z_-]+")
# Our own WhatsApp sender number is public (it is on every message we send): not a user's personal data.
PUBLIC_NUMBERS = frozenset({"+14155238886"})

PATTERNS = {
    "phone number": re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?![\d•])"),
    "assistant token": re.compile(r"yca_[A-Za-z0-9_-]{20,}"),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "Stripe secret": re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9_-]{8,}"),
    "Anthropic key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"),
}


@dataclass(frozen=True)
class Leak:
    what: str
    source: str
    line: str

    def __str__(self) -> str:
        return f"{self.what} in {self.source}: {self.line[:300]}"


@dataclass
class LogScan:
    known: dict[str, str] = field(default_factory=dict)  # value -> what it is
    lines: list[tuple[str, str]] = field(default_factory=list)  # (source, line)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, value: str | None, what: str) -> None:
        if value and len(value.strip()) >= MIN_VALUE_LENGTH and not _ONE_WORD.fullmatch(value.strip()):
            with self._lock:
                self.known.setdefault(value.strip(), what)

    def collect(self, text: str, source: str) -> None:
        with self._lock:
            self.lines.extend((source, line) for line in text.splitlines() if line.strip())

    def leaks(self) -> list[Leak]:
        with self._lock:
            lines = list(self.lines)
            known = dict(self.known)
        found: list[Leak] = []
        for source, line in lines:
            for what, pattern in PATTERNS.items():
                if any(m.group(0) not in PUBLIC_NUMBERS for m in pattern.finditer(line)):
                    found.append(Leak(what, source, line))
            found.extend(Leak(what, source, line) for value, what in known.items() if value in line)
        return found


SCAN = LogScan()

# The rows that hold what users wrote and who they are, read before a test's tables are emptied.
HARVEST = {
    "message body": ("SELECT body FROM inbound_messages", "SELECT body FROM outbox", "SELECT body FROM messages"),
    # What the assistant named a reminder or watcher after (the user's words).
    "automation name": (
        "SELECT name FROM assistant_automations",
        "SELECT detail FROM assistant_events WHERE kind = 'automation_set'",
    ),
    "phone number": (
        "SELECT phone_e164 FROM user_phones",
        "SELECT from_phone FROM inbound_messages",
        "SELECT to_phone FROM outbox",
    ),
}


async def harvest(conn) -> None:
    """Registers the bodies and numbers the tables hold (`conn`: an SQLAlchemy async connection)."""
    from sqlalchemy import text

    for what, statements in HARVEST.items():
        for statement in statements:
            for (value,) in (await conn.execute(text(statement))).all():
                SCAN.register(value, what)
