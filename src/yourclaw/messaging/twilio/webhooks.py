"""Twilio's webhooks as Twilio sends them: where we tell Twilio to send them, and the fields both of them
carry, checked. Incoming messages are `inbound.webhook`, delivery statuses `outbound.status_webhook`; both
are signed (`twilio.signature`), answer in milliseconds and leave the work to the router and the sender."""

from __future__ import annotations

import re
from typing import Protocol

import structlog

from yourclaw.db.models.users import E164_PATTERN
from yourclaw.kit import api
from yourclaw.messaging.errors import InvalidFrom, InvalidMessageSid, InvalidNumMedia, MissingMessageSid

log = structlog.get_logger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
# Where Twilio is told to send incoming messages (a bare route, `inbound.webhook`) and delivery statuses.
WHATSAPP_PATH = api.PREFIX + "/webhooks/twilio/whatsapp"
STATUS_PATH = api.PREFIX + "/webhooks/twilio/status"
MAX_MEDIA = 10  # Twilio's own limit per message
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
_E164 = re.compile(E164_PATTERN)
WA_ID = re.compile(r"^[0-9]{1,32}$")


class Form(Protocol):
    def get(self, name: str, /) -> object: ...


def field(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def message_sid(form: Form) -> str:
    sid = field(form, "MessageSid") or field(form, "SmsMessageSid")
    if not sid:
        raise MissingMessageSid("MessageSid is required")
    if not _SID.match(sid):
        raise InvalidMessageSid("MessageSid is not a Twilio message id")
    return sid


def sender_phone(form: Form) -> str:
    raw = field(form, "From")
    if not raw.startswith(WHATSAPP_PREFIX) or not _E164.match(raw[len(WHATSAPP_PREFIX) :]):
        raise InvalidFrom("From must be a WhatsApp number: whatsapp:+<E.164>")
    return raw[len(WHATSAPP_PREFIX) :]


def media_of(form: Form) -> list[dict[str, str]]:
    raw = field(form, "NumMedia") or "0"
    if not raw.isdigit():
        raise InvalidNumMedia("NumMedia must be a number")
    media = []
    for index in range(min(int(raw), MAX_MEDIA)):
        url = field(form, f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": field(form, f"MediaContentType{index}")})
    return media
