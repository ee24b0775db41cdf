"""The Twilio stand-in's HTTP side: the REST endpoints the twilio SDK calls (basic auth as account SID and
auth token), the error answers (Twilio's magic test recipients among them) and the media storage Twilio
redirects to."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from yourclaw.standins.local_server import QuietHandler

if TYPE_CHECKING:
    from yourclaw.standins.twilio import TwilioStandin


def twilio_error(status: int, code: int | None, message: str) -> tuple[int, dict]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# Twilio's test-credential recipients and the error each send to them gets (twilio.com/docs/iam/test-credentials).
MAGIC_RECIPIENTS = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS or WhatsApp."),
    "+15005550003": (21408, "Permission to send an SMS or WhatsApp message has not been enabled for the region."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/(SM\w+)\.json$")
_MEDIA = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/MM\w+/Media/(ME\w+)$")
_CONTENT = re.compile(r"^/media-content/(ME\w+)$")
# messaging.twilio.com's path, which the SDK's redirect sends here too (no account in the path).
_TYPING = "/v2/Indicators/Typing.json"


class _Handler(QuietHandler):
    standin: TwilioStandin

    def _denied(self, account_sid: str) -> bool:
        if self.standin._authorized(self.headers.get("Authorization"), account_sid):
            return False
        self._send(401, twilio_error(401, 20003, "Authenticate")[1], **{"WWW-Authenticate": 'Basic realm="Twilio API"'})
        return True

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        path = urlsplit(self.path).path
        if path == _TYPING:
            if not self.standin._authorized(self.headers.get("Authorization"), self.standin.account_sid):
                self._send(401, twilio_error(401, 20003, "Authenticate")[1])
                return
            self._send(*self.standin._typing(parse_qs(raw, keep_blank_values=True)))
            return
        match = _MESSAGES.match(path)
        if match is None:
            self._send(404, twilio_error(404, 20404, "The requested resource was not found")[1])
            return
        if self._denied(match.group(1)):
            return
        form = parse_qs(raw, keep_blank_values=True)
        with self.standin._sending_to(form.get("To", [""])[0]):
            status, payload = self.standin._create(form)
        self._send(status, payload)

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if match := _CONTENT.match(parts.path):  # Twilio's storage: the redirect's target needs no credentials
            media = self.standin._media.get(match.group(1))
            if media is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, media.data, media.content_type)
            return
        for pattern in (_MESSAGES, _MESSAGE, _MEDIA):
            if match := pattern.match(parts.path):
                break
        else:
            self._send(404, twilio_error(404, 20404, "The requested resource was not found")[1])
            return
        if self._denied(match.group(1)):
            return
        if pattern is _MESSAGES:
            self._send(200, self.standin._list(parse_qs(parts.query)))
        elif pattern is _MESSAGE:
            found = next((m for m in self.standin.messages if m.sid == match.group(2)), None)
            if found is None:
                self._send(404, twilio_error(404, 20404, "The requested resource was not found")[1])
            else:
                self._send(200, found.resource())
        elif match.group(2) in self.standin._media:
            self._send(302, b"", "text/plain", Location=f"{self.standin.base_url}/media-content/{match.group(2)}")
        else:
            self._send(404, twilio_error(404, 20404, "The requested resource was not found")[1])


def make_handler(standin: TwilioStandin) -> type[QuietHandler]:
    return type("TwilioStandinHandler", (_Handler,), {"standin": standin})
