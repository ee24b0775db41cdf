"""The MCP tools, per service: name, what the model reads about it, its input schema, and the Google call.
Sending an email and deleting an event say to confirm with the user first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from yourclaw.integrations import google_api as g

Handler = Callable[[g.GoogleApi, dict], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    service: str  # calendar, gmail, drive
    description: str
    schema: dict
    handler: Handler


def _obj(required: list[str], **props: dict) -> dict:
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


_S = {"type": "string"}
_TIME = {"type": "string", "description": "RFC 3339 date-time with offset, e.g. 2026-12-08T09:00:00+01:00"}
_N = {"type": "integer", "minimum": 1, "maximum": 100}
_EMAILS = {"type": "array", "items": {"type": "string"}}

TOOLS: tuple[Tool, ...] = (
    Tool(
        "calendar_list_events",
        "calendar",
        "List events on the user's primary Google Calendar between two times (optionally matching words).",
        _obj([], time_min=_TIME, time_max=_TIME, query=_S, max_results=_N),
        g.calendar_list_events,
    ),
    Tool(
        "calendar_create_event",
        "calendar",
        "Create an event on the user's primary Google Calendar.",
        _obj(
            ["summary", "start", "end"],
            summary=_S,
            start=_TIME,
            end=_TIME,
            description=_S,
            location=_S,
            attendees=_EMAILS,
        ),
        g.calendar_create_event,
    ),
    Tool(
        "calendar_update_event",
        "calendar",
        "Change an event (by id from calendar_list_events).",
        _obj(
            ["event_id"],
            event_id=_S,
            summary=_S,
            start=_TIME,
            end=_TIME,
            description=_S,
            location=_S,
            attendees=_EMAILS,
        ),
        g.calendar_update_event,
    ),
    Tool(
        "calendar_delete_event",
        "calendar",
        "Delete an event. Confirm with the user on WhatsApp before deleting, naming the event and its time.",
        _obj(["event_id"], event_id=_S),
        g.calendar_delete_event,
    ),
    Tool(
        "calendar_free_busy",
        "calendar",
        "The user's busy times between two times (to find free slots).",
        _obj(["time_min", "time_max"], time_min=_TIME, time_max=_TIME),
        g.calendar_free_busy,
    ),
    Tool(
        "gmail_search",
        "gmail",
        "Search the user's Gmail with Gmail search syntax (e.g. 'from:anna invoice').",
        _obj(["query"], query=_S, max_results=_N),
        g.gmail_search,
    ),
    Tool(
        "gmail_read_message",
        "gmail",
        "Read one email (by id from gmail_search) as text.",
        _obj(["message_id"], message_id=_S),
        g.gmail_read_message,
    ),
    Tool(
        "gmail_read_thread",
        "gmail",
        "Read a whole email thread (by thread id) as text.",
        _obj(["thread_id"], thread_id=_S),
        g.gmail_read_thread,
    ),
    Tool(
        "gmail_create_draft",
        "gmail",
        "Save an email draft in the user's Gmail (not sent).",
        _obj(["to", "subject", "body"], to=_EMAILS, subject=_S, body=_S, thread_id=_S),
        g.gmail_create_draft,
    ),
    Tool(
        "gmail_send",
        "gmail",
        "Send an email from the user's Gmail. Always show the user the recipients, subject and text on "
        "WhatsApp and get their explicit yes before sending.",
        _obj(["to", "subject", "body"], to=_EMAILS, subject=_S, body=_S, thread_id=_S),
        g.gmail_send,
    ),
    Tool(
        "drive_search",
        "drive",
        "Find files in the user's Google Drive by name (files this assistant made or the user opened with it).",
        _obj([], query=_S, max_results=_N),
        g.drive_search,
    ),
    Tool(
        "drive_read_file",
        "drive",
        "Read a Drive file as text (Google Docs are exported as text).",
        _obj(["file_id"], file_id=_S),
        g.drive_read_file,
    ),
    Tool(
        "drive_create_file",
        "drive",
        "Create a document in the user's Google Drive with the given text.",
        _obj(["name", "content"], name=_S, content=_S, as_google_doc={"type": "boolean"}),
        g.drive_create_file,
    ),
)
BY_NAME = {t.name: t for t in TOOLS}
