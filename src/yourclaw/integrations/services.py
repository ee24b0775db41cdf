"""The Google services a user may connect: their names in URLs and rows, the least scopes each needs, and
the line the dashboard shows about what the assistant can do with it.

Scopes (docs/connected-services.md has what each needs from Google's verification):
- Calendar: `calendar.events` (read and write events) and `calendar.freebusy` (busy times only); sensitive.
- Gmail: `gmail.readonly` (search and read) and `gmail.compose` (drafts, and sending them); both restricted.
- Drive: `drive.file`, only files the assistant creates or the user opens with it; non-sensitive.
`openid email` with each, for the account's address on the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from yourclaw.integrations.errors import UnknownService

IDENTITY_SCOPES = ("openid", "email")
_G = "https://www.googleapis.com/auth/"


@dataclass(frozen=True)
class Service:
    name: str  # in URLs and the MCP server: calendar, gmail, drive
    row: str  # user_integrations.service
    label: str
    scopes: tuple[str, ...]
    can_do: str


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service(
            "calendar",
            "GOOGLE_CALENDAR",
            "Google Calendar",
            (_G + "calendar.events", _G + "calendar.freebusy"),
            "Your assistant can see what is on your calendar, find free time, and add, move or cancel events.",
        ),
        Service(
            "gmail",
            "GOOGLE_GMAIL",
            "Gmail",
            (_G + "gmail.readonly", _G + "gmail.compose"),
            "Your assistant can search and read your mail, write drafts, and send mail once you say so.",
        ),
        Service(
            "drive",
            "GOOGLE_DRIVE",
            "Google Drive",
            (_G + "drive.file",),
            "Your assistant can create documents in your Drive and read the ones it made or you opened with it.",
        ),
    )
}
BY_ROW = {s.row: s for s in SERVICES.values()}


def named(name: str) -> Service:
    service = SERVICES.get(name)
    if service is None:
        raise UnknownService(f"Unknown service {name[:40]!r}: expected one of {', '.join(SERVICES)}")
    return service
