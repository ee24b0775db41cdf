"""`POST /api/v1/webhooks/twilio/whatsapp`, the busiest call we answer, as a bare route (`bare_routes`).

It does what a Litestar route would (signature, validation, `{detail, code}` errors, request ids) without
Litestar's per-request machinery: the body is read and parsed once, the write joins whatever other
webhooks are being stored (`inbound_writer`), and the router is woken after the commit (`router_wakeup`).
What makes the answer durable is unchanged: the row is committed before the 200.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from litestar.types import Receive, Scope, Send
from twilio.request_validator import SIGNATURE_HEADER

from yourclaw.kit.errors import Forbidden, ServiceUnavailable, YourClawError
from yourclaw.messaging.twilio.signature import FORM_CONTENT_TYPE, is_valid, request_url
from yourclaw.messaging.twilio.webhooks import parse_received
from yourclaw.server.bare_routes import header, read_body
from yourclaw.server.state import AppState

log = structlog.get_logger(__name__)

PATH = "/webhooks/twilio/whatsapp"
MAX_BODY = 64 * 1024  # Twilio's largest form (1,600 characters of text, 10 media URLs) is far below this
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


def parse_form(body: bytes) -> WebhookForm:
    form = WebhookForm()
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return form


async def twilio_whatsapp_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        raise YourClawError("Use POST", code="METHOD_NOT_ALLOWED", status_code=405)
    state: AppState = scope["litestar_app"].state.app_state
    settings = state.settings
    if not settings.twilio_auth_token:
        raise ServiceUnavailable(
            "Twilio webhooks are refused until TWILIO_AUTH_TOKEN is set", code="TWILIO_NOT_CONFIGURED"
        )
    content_type = header(scope, b"content-type").partition(";")[0].strip().lower()
    signature = header(scope, _SIGNATURE)
    if content_type != FORM_CONTENT_TYPE:
        raise YourClawError(f"Expected a {FORM_CONTENT_TYPE} body", code="UNSUPPORTED_MEDIA_TYPE", status_code=415)
    if not signature:
        raise Forbidden("Missing X-Twilio-Signature", code="INVALID_SIGNATURE")
    form = parse_form(await read_body(receive, MAX_BODY, "The form is larger than any Twilio webhook"))
    url = request_url(settings, scope)
    if not is_valid(settings.twilio_auth_token, url, form, signature):
        log.warning("twilio_signature_rejected", url=url)
        raise Forbidden("Invalid X-Twilio-Signature", code="INVALID_SIGNATURE")

    message = parse_received(form)
    new_id = await state.inbound_writer.receive(message)
    if new_id is not None:
        state.router_wakeup.wake(str(new_id))
        log.info("inbound_received", message_id=str(new_id), media=len(message.media))
    else:
        log.info("inbound_duplicate", message_sid=message.message_sid)
    await send({"type": "http.response.start", "status": 200, "headers": _TWIML_HEADERS})
    await send({"type": "http.response.body", "body": _EMPTY_TWIML})
