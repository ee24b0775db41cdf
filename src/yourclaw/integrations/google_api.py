"""The Google REST calls behind each tool, with the user's fresh access token. Answers are trimmed to what
the model needs (ids, titles, times, text), never the raw payloads."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from typing import Any

import aiohttp

# A tool's text answer is capped: a long mail or document would otherwise fill the model's context.
MAX_TEXT = 20_000


class GoogleApiError(Exception):
    """Google refused or failed a call; the message is safe to show the model (no token, no content)."""


# Google's API is reached with aiohttp, as the LLM proxy reaches Anthropic: httpx's request building and
# pure-Python parsing were the largest share of what the MCP server added to a tool call.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=10.0)


def new_session() -> aiohttp.ClientSession:
    """The process's client for Google's API; made on the running loop, closed with the MCP server."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
        timeout=TIMEOUT,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class GoogleApi:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, access_token: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: Any = None,
        raw: bool = False,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._http.request(
                method, self._base + path, params=query, json=body, data=content, headers=headers
            ) as response:
                status = response.status
                data = await response.read()
                charset = response.charset or "utf-8"
        except (aiohttp.ClientError, TimeoutError):
            raise GoogleApiError("Google could not be reached; try again in a moment") from None
        if status == 404:
            raise GoogleApiError("Not found: check the id")
        if status >= 400:
            raise GoogleApiError(f"Google refused the call (HTTP {status})")
        text = data.decode(charset, errors="replace")
        if raw:
            return text
        return json.loads(text) if data else {}


# --- Calendar -------------------------------------------------------------------------------------------


def _event(e: dict) -> dict:
    return {
        "id": e.get("id"),
        "summary": e.get("summary"),
        "start": (e.get("start") or {}).get("dateTime") or (e.get("start") or {}).get("date"),
        "end": (e.get("end") or {}).get("dateTime") or (e.get("end") or {}).get("date"),
        "location": e.get("location"),
        "attendees": [a.get("email") for a in e.get("attendees") or []],
    }


async def calendar_list_events(api: GoogleApi, a: dict) -> Any:
    body = await api.call(
        "GET",
        "/calendar/v3/calendars/primary/events",
        params={
            "timeMin": a.get("time_min"),
            "timeMax": a.get("time_max"),
            "q": a.get("query"),
            "singleEvents": "true",
            "orderBy": "startTime",
            "maxResults": min(int(a.get("max_results", 25)), 100),
        },
    )
    return {"events": [_event(e) for e in body.get("items", [])]}


def _event_body(a: dict) -> dict:
    body: dict = {}
    for key in ("summary", "description", "location"):
        if a.get(key) is not None:
            body[key] = a[key]
    if a.get("start"):
        body["start"] = {"dateTime": a["start"]}
    if a.get("end"):
        body["end"] = {"dateTime": a["end"]}
    if a.get("attendees"):
        body["attendees"] = [{"email": x} for x in a["attendees"]]
    return body


async def calendar_create_event(api: GoogleApi, a: dict) -> Any:
    return _event(await api.call("POST", "/calendar/v3/calendars/primary/events", body=_event_body(a)))


async def calendar_update_event(api: GoogleApi, a: dict) -> Any:
    path = f"/calendar/v3/calendars/primary/events/{_id(a, 'event_id')}"
    return _event(await api.call("PATCH", path, body=_event_body(a)))


async def calendar_delete_event(api: GoogleApi, a: dict) -> Any:
    await api.call("DELETE", f"/calendar/v3/calendars/primary/events/{_id(a, 'event_id')}")
    return {"deleted": a["event_id"]}


async def calendar_free_busy(api: GoogleApi, a: dict) -> Any:
    body = await api.call(
        "POST",
        "/calendar/v3/freeBusy",
        body={"timeMin": a["time_min"], "timeMax": a["time_max"], "items": [{"id": "primary"}]},
    )
    return {"busy": ((body.get("calendars") or {}).get("primary") or {}).get("busy", [])}


# --- Gmail ----------------------------------------------------------------------------------------------


def _header(message: dict, name: str) -> str | None:
    for h in (message.get("payload") or {}).get("headers", []):
        if h.get("name", "").lower() == name.lower():
            return h.get("value")
    return None


def _text_of(part: dict) -> str:
    if (part.get("mimeType") or "").startswith("text/plain") and (part.get("body") or {}).get("data"):
        return base64.urlsafe_b64decode(part["body"]["data"] + "==").decode("utf-8", "replace")
    return "".join(_text_of(p) for p in part.get("parts") or [])


def _message(m: dict, full: bool) -> dict:
    out = {
        "id": m.get("id"),
        "thread_id": m.get("threadId"),
        "from": _header(m, "From"),
        "to": _header(m, "To"),
        "subject": _header(m, "Subject"),
        "date": _header(m, "Date"),
        "snippet": m.get("snippet"),
    }
    if full:
        out["body"] = _text_of(m.get("payload") or {})[:MAX_TEXT]
    return out


async def gmail_search(api: GoogleApi, a: dict) -> Any:
    listed = await api.call(
        "GET",
        "/gmail/v1/users/me/messages",
        params={"q": a.get("query", ""), "maxResults": min(int(a.get("max_results", 10)), 25)},
    )
    messages = []
    for ref in listed.get("messages", []):
        m = await api.call("GET", f"/gmail/v1/users/me/messages/{ref['id']}", params={"format": "metadata"})
        messages.append(_message(m, full=False))
    return {"messages": messages}


async def gmail_read_message(api: GoogleApi, a: dict) -> Any:
    m = await api.call("GET", f"/gmail/v1/users/me/messages/{_id(a, 'message_id')}", params={"format": "full"})
    return _message(m, full=True)


async def gmail_read_thread(api: GoogleApi, a: dict) -> Any:
    t = await api.call("GET", f"/gmail/v1/users/me/threads/{_id(a, 'thread_id')}", params={"format": "full"})
    return {"id": t.get("id"), "messages": [_message(m, full=True) for m in t.get("messages", [])]}


def _raw(a: dict) -> str:
    mail = EmailMessage()
    mail["To"] = ", ".join(a["to"]) if isinstance(a["to"], list) else a["to"]
    mail["Subject"] = a.get("subject", "")
    if a.get("in_reply_to"):
        mail["In-Reply-To"] = a["in_reply_to"]
    mail.set_content(a.get("body", ""))
    return base64.urlsafe_b64encode(mail.as_bytes()).decode()


async def gmail_create_draft(api: GoogleApi, a: dict) -> Any:
    message: dict = {"raw": _raw(a)}
    if a.get("thread_id"):
        message["threadId"] = a["thread_id"]
    d = await api.call("POST", "/gmail/v1/users/me/drafts", body={"message": message})
    return {"draft_id": d.get("id")}


async def gmail_send(api: GoogleApi, a: dict) -> Any:
    message: dict = {"raw": _raw(a)}
    if a.get("thread_id"):
        message["threadId"] = a["thread_id"]
    m = await api.call("POST", "/gmail/v1/users/me/messages/send", body=message)
    return {"sent": m.get("id")}


# --- Drive ----------------------------------------------------------------------------------------------

GOOGLE_DOC = "application/vnd.google-apps.document"


async def drive_search(api: GoogleApi, a: dict) -> Any:
    words = str(a.get("query", "")).replace("\\", "").replace("'", "\\'")
    body = await api.call(
        "GET",
        "/drive/v3/files",
        params={
            "q": f"name contains '{words}' and trashed = false" if words else "trashed = false",
            "pageSize": min(int(a.get("max_results", 10)), 50),
            "fields": "files(id,name,mimeType,modifiedTime)",
        },
    )
    return {"files": body.get("files", [])}


async def drive_read_file(api: GoogleApi, a: dict) -> Any:
    file_id = _id(a, "file_id")
    meta = await api.call("GET", f"/drive/v3/files/{file_id}", params={"fields": "id,name,mimeType"})
    if meta.get("mimeType", "").startswith("application/vnd.google-apps."):
        text = await api.call("GET", f"/drive/v3/files/{file_id}/export", params={"mimeType": "text/plain"}, raw=True)
    else:
        text = await api.call("GET", f"/drive/v3/files/{file_id}", params={"alt": "media"}, raw=True)
    return {"id": file_id, "name": meta.get("name"), "text": text[:MAX_TEXT]}


async def drive_create_file(api: GoogleApi, a: dict) -> Any:
    boundary = "yourclaw-part"
    metadata = {"name": a["name"], "mimeType": GOOGLE_DOC if a.get("as_google_doc", True) else "text/plain"}
    content = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps(metadata)}\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{a.get('content', '')}\r\n--{boundary}--"
    ).encode()
    f = await api.call(
        "POST",
        "/upload/drive/v3/files",
        params={"uploadType": "multipart", "fields": "id,name,mimeType"},
        content=content,
        content_type=f"multipart/related; boundary={boundary}",
    )
    return {"id": f.get("id"), "name": f.get("name")}


def _id(a: dict, key: str) -> str:
    value = str(a.get(key) or "")
    if not value or not all(c.isalnum() or c in "-_@." for c in value):
        raise GoogleApiError(f"{key} must be an id returned by an earlier call")
    return value
