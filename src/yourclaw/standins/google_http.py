"""The Google stand-in's HTTP side: the consent page a browser sees ("Allow"), the token and revoke
endpoints, userinfo, and the Calendar, Gmail and Drive calls our MCP server makes."""

from __future__ import annotations

import base64
import email
import html
import json
import re
from email import policy
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from yourclaw.standins.google import DEFAULT_EMAIL, Account, GoogleStandinError, _id, gmail_message
from yourclaw.standins.local_server import QuietHandler

if TYPE_CHECKING:
    from yourclaw.standins.google import GoogleStandin

_STYLE = (
    "body{background:#f8fafc;font:16px/1.5 system-ui,sans-serif;display:flex;justify-content:center;padding:4rem 1rem}"
    "main{background:#fff;border:1px solid #dadce0;border-radius:8px;padding:2rem;max-width:26rem}"
    "button{padding:.6rem 1.2rem;border-radius:4px;border:0;font-size:1rem;cursor:pointer;margin-right:.5rem}"
    ".allow{background:#1a73e8;color:#fff}.deny{background:#e8eaed}input{width:100%;padding:.4rem}"
)
_EVENT = re.compile(r"^/calendar/v3/calendars/primary/events/([\w.@-]+)$")
_MESSAGE = re.compile(r"^/gmail/v1/users/me/messages/([\w-]+)$")
_THREAD = re.compile(r"^/gmail/v1/users/me/threads/([\w-]+)$")
_FILE = re.compile(r"^/drive/v3/files/([\w-]+)(/export)?$")


def make_handler(standin: GoogleStandin) -> type[BaseHTTPRequestHandler]:
    return type("GoogleStandinHandler", (_Handler,), {"standin": standin})


def _matches(query: str, text: str) -> bool:
    words = [w for w in re.findall(r"[\w@.]+", query.lower()) if ":" not in w]
    return all(w in text.lower() for w in words)


class _Handler(QuietHandler):
    standin: GoogleStandin
    # Headers and body go out as two writes: without TCP_NODELAY the second waits for the client's delayed
    # ACK, and every call would take 40 ms more than Google's would.
    disable_nagle_algorithm = True

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self) -> dict:
        raw = self._body()
        return json.loads(raw) if raw else {}

    def _error(self, status: int, error: str) -> None:
        self._send(
            status,
            {"error": error}
            if status in (400, 401) and "_" in error
            else {"error": {"code": status, "message": error}},
        )

    def _account(self) -> Account | None:
        kind, _, token = self.headers.get("Authorization", "").partition(" ")
        holder = self.standin.holder_of(token.strip()) if kind == "Bearer" else None
        if holder is None:
            self._send(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}})
            return None
        return self.standin.account(holder)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/o/oauth2/v2/auth":
            return self._consent(q)
        account = self._account()
        if account is None:
            return None
        if url.path == "/oauth2/v3/userinfo":
            return self._send(200, {"email": account.email, "email_verified": True, "sub": _id()})
        if url.path == "/calendar/v3/calendars/primary/events":
            items = sorted(account.events.values(), key=lambda e: e["start"]["dateTime"])
            items = [
                e
                for e in items
                if (not q.get("timeMin") or e["end"]["dateTime"] > q["timeMin"])
                and (not q.get("timeMax") or e["start"]["dateTime"] < q["timeMax"])
                and _matches(q.get("q", ""), e.get("summary", ""))
            ]
            return self._send(200, {"items": items})
        if url.path == "/gmail/v1/users/me/messages":
            found = [
                {"id": m["id"], "threadId": m["threadId"]}
                for m in account.messages.values()
                if _matches(q.get("q", ""), json.dumps(m["payload"]["headers"]) + m["snippet"])
            ]
            return self._send(200, {"messages": found[: int(q.get("maxResults", 10))]})
        if m := _MESSAGE.match(url.path):
            message = account.messages.get(m.group(1))
            return self._send(200, message) if message else self._error(404, "Not Found")
        if m := _THREAD.match(url.path):
            thread = [x for x in account.messages.values() if x["threadId"] == m.group(1)]
            return self._send(200, {"id": m.group(1), "messages": thread}) if thread else self._error(404, "Not Found")
        if url.path == "/drive/v3/files":
            name = re.search(r"name contains '((?:[^'\\]|\\.)*)'", q.get("q", ""))
            files = [
                {k: f[k] for k in ("id", "name", "mimeType", "modifiedTime")}
                for f in account.files.values()
                if not name or name.group(1).lower() in f["name"].lower()
            ]
            return self._send(200, {"files": files})
        if m := _FILE.match(url.path):
            f = account.files.get(m.group(1))
            if f is None:
                return self._error(404, "File not found")
            if m.group(2) or q.get("alt") == "media":
                return self._send(200, f["content"].encode(), "text/plain; charset=utf-8")
            return self._send(200, {k: f[k] for k in ("id", "name", "mimeType")})
        return self._error(404, "Not Found")

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        try:
            if url.path == "/o/oauth2/v2/auth/allow":
                return self._allow(dict(parse_qsl(self._body().decode())))
            if url.path == "/token":
                return self._send(200, self.standin.token(dict(parse_qsl(self._body().decode()))))
            if url.path == "/revoke":
                self.standin.revoke(dict(parse_qsl(self._body().decode())).get("token", ""))
                return self._send(200, {})
        except GoogleStandinError as exc:
            return self._error(exc.status, exc.error)
        account = self._account()
        if account is None:
            return None
        if url.path == "/calendar/v3/calendars/primary/events":
            event = {**self._json(), "id": _id()}
            account.events[event["id"]] = event
            return self._send(200, event)
        if url.path == "/calendar/v3/freeBusy":
            body = self._json()
            busy = [
                {"start": e["start"]["dateTime"], "end": e["end"]["dateTime"]}
                for e in account.events.values()
                if e["end"]["dateTime"] > body["timeMin"] and e["start"]["dateTime"] < body["timeMax"]
            ]
            return self._send(200, {"calendars": {"primary": {"busy": busy}}})
        if url.path in ("/gmail/v1/users/me/drafts", "/gmail/v1/users/me/messages/send"):
            body = self._json()
            raw = body.get("message", body)
            mail = email.message_from_bytes(base64.urlsafe_b64decode(raw["raw"] + "=="), policy=policy.default)
            sent = gmail_message(
                account.email, str(mail["To"]), str(mail["Subject"]), mail.get_content(), raw.get("threadId")
            )
            if url.path.endswith("/drafts"):
                account.drafts[sent["id"]] = sent
                return self._send(200, {"id": sent["id"], "message": {"id": sent["id"]}})
            account.messages[sent["id"]] = sent
            return self._send(200, {"id": sent["id"], "threadId": sent["threadId"]})
        if url.path == "/upload/drive/v3/files":
            parts = self._body().decode().split("\r\n\r\n")
            metadata = json.loads(parts[1].split("\r\n--")[0])
            content = parts[2].rsplit("\r\n--", 1)[0] if len(parts) > 2 else ""
            f = {
                "id": _id(),
                "name": metadata["name"],
                "mimeType": metadata.get("mimeType", "text/plain"),
                "content": content,
                "modifiedTime": "",
            }
            account.files[f["id"]] = f
            return self._send(200, {k: f[k] for k in ("id", "name", "mimeType")})
        return self._error(404, "Not Found")

    def do_PATCH(self) -> None:  # noqa: N802
        account = self._account()
        m = _EVENT.match(urlsplit(self.path).path)
        if account is None:
            return None
        if not m or m.group(1) not in account.events:
            return self._error(404, "Not Found")
        account.events[m.group(1)].update(self._json())
        return self._send(200, account.events[m.group(1)])

    def do_DELETE(self) -> None:  # noqa: N802
        account = self._account()
        m = _EVENT.match(urlsplit(self.path).path)
        if account is None:
            return None
        if not m or account.events.pop(m.group(1), None) is None:
            return self._error(404, "Not Found")
        return self._send(204, b"", "text/plain")

    def _consent(self, q: dict[str, str]) -> None:
        if q.get("client_id") != self.standin.client_id:
            return self._error(400, "invalid_client")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in q.get("scope", "").split())
        page = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in - Google (stand-in)</title>'
            f"<style>{_STYLE}</style></head><body><main><h1>YourClaw wants to access your Google Account</h1>"
            f'<form method="post" action="/o/oauth2/v2/auth/allow">{hidden}'
            f'<label>Account <input name="email" value="{DEFAULT_EMAIL}"></label><ul>{scopes}</ul>'
            f'<button class="allow" name="decision" value="allow">Allow</button>'
            f'<button class="deny" name="decision" value="deny">Cancel</button></form>'
            "<p><small>A local stand-in for Google's consent page.</small></p></main></body></html>"
        ).encode()
        self._send(200, page, "text/html; charset=utf-8")

    def _allow(self, form: dict[str, str]) -> None:
        redirect = form.get("redirect_uri", "")
        if form.get("decision") != "allow":
            query = {"error": "access_denied", "state": form.get("state", "")}
        else:
            code = self.standin.authorize(
                client_id=form.get("client_id", ""),
                redirect_uri=redirect,
                scope=form.get("scope", ""),
                challenge=form.get("code_challenge", ""),
                method=form.get("code_challenge_method", ""),
                email=form.get("email") or DEFAULT_EMAIL,
            )
            query = {"code": code, "state": form.get("state", ""), "scope": form.get("scope", "")}
        self._send(302, b"", "text/plain", Location=redirect + ("&" if "?" in redirect else "?") + urlencode(query))
