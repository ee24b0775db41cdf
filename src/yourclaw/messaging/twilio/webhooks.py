"""Twilio's webhooks: delivery status callbacks here, and the parsing both webhooks share. Incoming
WhatsApp messages have a lean handler of their own (`inbound.webhook`). Both are signed
(`twilio.signature`), answer in milliseconds and leave the work to the router and the sender: a message
is durable (unique on its MessageSid, so Twilio's retries are harmless) before we answer."""

from __future__ import annotations

import re
from typing import Protocol

import structlog
from litestar import Controller, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide

from yourclaw.db.models.users import E164_PATTERN
from yourclaw.kit import api
from yourclaw.kit.di import DbSession
from yourclaw.messaging.errors import (
    InvalidFrom,
    InvalidMessageSid,
    InvalidMessageStatus,
    InvalidNumMedia,
    MissingMessageSid,
    MissingMessageStatus,
)
from yourclaw.messaging.inbound import repository as repo
from yourclaw.messaging.twilio.signature import provide_twilio_form

log = structlog.get_logger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
# Where Twilio is told to send incoming messages (a bare route, `inbound.webhook`) and delivery statuses.
WHATSAPP_PATH = api.PREFIX + "/webhooks/twilio/whatsapp"
STATUS_PATH = api.PREFIX + "/webhooks/twilio/status"
MAX_MEDIA = 10  # Twilio's own limit per message
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
_E164 = re.compile(E164_PATTERN)
_WA_ID = re.compile(r"^[0-9]{1,32}$")
_STATUS = re.compile(r"^[a-z_-]{1,20}$")

TwilioForm = NamedDependency[FormMultiDict]


class Form(Protocol):
    def get(self, name: str, /) -> object: ...


def _field(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def message_sid(form: Form) -> str:
    sid = _field(form, "MessageSid") or _field(form, "SmsMessageSid")
    if not sid:
        raise MissingMessageSid("MessageSid is required")
    if not _SID.match(sid):
        raise InvalidMessageSid("MessageSid is not a Twilio message id")
    return sid


def sender_phone(form: Form) -> str:
    raw = _field(form, "From")
    if not raw.startswith(WHATSAPP_PREFIX) or not _E164.match(raw[len(WHATSAPP_PREFIX) :]):
        raise InvalidFrom("From must be a WhatsApp number: whatsapp:+<E.164>")
    return raw[len(WHATSAPP_PREFIX) :]


def media_of(form: Form) -> list[dict[str, str]]:
    raw = _field(form, "NumMedia") or "0"
    if not raw.isdigit():
        raise InvalidNumMedia("NumMedia must be a number")
    media = []
    for index in range(min(int(raw), MAX_MEDIA)):
        url = _field(form, f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": _field(form, f"MediaContentType{index}")})
    return media


def parse_received(form: Form) -> repo.Received:
    wa_id = _field(form, "WaId")
    value = form.get("Body")
    return repo.Received(
        message_sid=message_sid(form),
        from_phone=sender_phone(form),
        body=value if isinstance(value, str) else "",
        profile_name=_field(form, "ProfileName") or None,
        wa_id=wa_id if _WA_ID.match(wa_id) else None,
        media=media_of(form),
    )


class TwilioWebhookController(Controller):
    path = STATUS_PATH.removeprefix(api.PREFIX)
    tags = ["webhooks"]
    include_in_schema = False
    dependencies = {"twilio_form": Provide(provide_twilio_form)}

    @post("/", status_code=204)
    async def status(self, db_session: DbSession, twilio_form: TwilioForm) -> None:
        sid = message_sid(twilio_form)
        status = (_field(twilio_form, "MessageStatus") or _field(twilio_form, "SmsStatus")).lower()
        if not status:
            raise MissingMessageStatus("MessageStatus is required")
        if not _STATUS.match(status):
            raise InvalidMessageStatus("MessageStatus is not a Twilio status")
        error_code = _field(twilio_form, "ErrorCode") or None
        if status not in repo.DELIVERY_STATUSES:
            # A status Twilio added later: acknowledged, not stored, so it never hides a known one.
            log.info("twilio_status_ignored", message_sid=sid, status=status)
            return
        found = await repo.set_delivery_status(db_session, sid, status)
        log.info("twilio_status", message_sid=sid, status=status, error_code=error_code, known=found)
