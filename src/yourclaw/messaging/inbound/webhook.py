"""`POST /api/v1/webhooks/twilio/whatsapp`, the busiest call we answer, as a bare route (`server.bare_routes`).

It does what a Litestar route would (signature, validation, `{detail, code}` errors, request ids) without
Litestar's per-request machinery: the body is read and parsed once, the write joins whatever other
webhooks are being stored (`writer`), and the router is woken after the commit (`router_wakeup`).
What makes the answer durable is unchanged: the row is committed before the 200.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from litestar.types import Receive, Scope, Send
from twilio.request_validator import SIGNATURE_HEADER

from yourclaw.kit.asgi import header, read_body
from yourclaw.kit.errors import MethodNotAllowed
from yourclaw.kit.settings import Settings
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.inbound.router_wakeup import RouterWakeup
from yourclaw.messaging.inbound.writer import InboundWriter
from yourclaw.messaging.twilio.signature import signed_form
from yourclaw.messaging.twilio.webhooks import WA_ID, Form, field, media_of, message_sid, sender_phone

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024  # Twilio's largest form (1,600 characters of text, 10 media URLs) is far below this
# A button's id is ours (the template's, see settings); one longer than this is none of them.
MAX_BUTTON_PAYLOAD = 256
_SIGNATURE = SIGNATURE_HEADER.lower().encode()
_EMPTY_TWIML = b"<Response></Response>"
_TWIML_HEADERS = [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(_EMPTY_TWIML)).encode())]


class WebhookForm(dict[str, list[str]]):
    """Form fields with every value kept: `get` gives the first, `getall` (what the twilio validator
    asks for) all of them, so a repeated field is signed and checked like Twilio does."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        values = super().get(name)
        return values[0] if values else default

    def getall(self, name: str) -> list[str]:
        return super().get(name, [])


class WithoutNul:
    """A signed form's values with NUL (which PostgreSQL cannot store in text or JSONB) as U+FFFD, as bytes
    that are not UTF-8 already are. Read only once the signature was checked over the values as sent: the
    message is the user's, and refusing it would lose it (a 4xx) or have Twilio retry it in vain (a 5xx)."""

    def __init__(self, form: Form) -> None:
        self._form = form

    def get(self, name: str, /) -> object:
        value = self._form.get(name)
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def parse_form(body: bytes) -> WebhookForm:
    form = WebhookForm()
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return form


def parse_received(form: Form) -> repo.Received:
    wa_id = field(form, "WaId")
    button = field(form, "ButtonPayload")
    value = form.get("Body")
    return repo.Received(
        message_sid=message_sid(form),
        from_phone=sender_phone(form),
        body=value if isinstance(value, str) else "",
        profile_name=field(form, "ProfileName") or None,
        wa_id=wa_id if WA_ID.match(wa_id) else None,
        media=media_of(form),
        button_payload=button if 0 < len(button) <= MAX_BUTTON_PAYLOAD else None,
    )


class WhatsAppWebhook:
    """The bare route itself, built once the process's state exists (`server.app`)."""

    def __init__(self, settings: Settings, writer: InboundWriter, wakeup: RouterWakeup) -> None:
        self.settings = settings
        self.writer = writer
        self.wakeup = wakeup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowed("Use POST")
        content_type = header(scope, b"content-type").partition(";")[0].strip().lower()

        async def read_form() -> WebhookForm:
            return parse_form(await read_body(receive, MAX_BODY, "The form is larger than any Twilio webhook"))

        form = await signed_form(self.settings, scope, content_type, header(scope, _SIGNATURE), read_form)
        message = parse_received(WithoutNul(form))
        new_id = await self.writer.receive(message)
        if new_id is not None:
            self.wakeup.wake(str(new_id))
            log.info("inbound_received", message_id=str(new_id), media=len(message.media))
        else:
            log.info("inbound_duplicate", message_sid=message.message_sid)
        await send({"type": "http.response.start", "status": 200, "headers": _TWIML_HEADERS})
        await send({"type": "http.response.body", "body": _EMPTY_TWIML})
