"""Twilio's delivery status callbacks (`POST {STATUS_PATH}`): each part's status lands on its audit row,
never moving backwards (a late "sent" after "delivered" changes nothing). Signed like every Twilio webhook."""

from __future__ import annotations

import re

import structlog
from litestar import Controller, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide

from yourclaw.kit import api
from yourclaw.kit.di import DbSession
from yourclaw.messaging.errors import InvalidMessageStatus, MissingMessageStatus
from yourclaw.messaging.outbound import delivery_statuses
from yourclaw.messaging.twilio.signature import provide_twilio_form
from yourclaw.messaging.twilio.webhooks import STATUS_PATH, field, message_sid

log = structlog.get_logger(__name__)

_STATUS = re.compile(r"^[a-z_-]{1,20}$")

TwilioForm = NamedDependency[FormMultiDict]


class TwilioWebhookController(Controller):
    path = STATUS_PATH.removeprefix(api.PREFIX)
    tags = ["webhooks"]
    include_in_schema = False
    dependencies = {"twilio_form": Provide(provide_twilio_form)}

    @post("/", status_code=204)
    async def status(self, db_session: DbSession, twilio_form: TwilioForm) -> None:
        sid = message_sid(twilio_form)
        status = (field(twilio_form, "MessageStatus") or field(twilio_form, "SmsStatus")).lower()
        if not status:
            raise MissingMessageStatus("MessageStatus is required")
        if not _STATUS.match(status):
            raise InvalidMessageStatus("MessageStatus is not a Twilio status")
        error_code = field(twilio_form, "ErrorCode") or None
        if status not in delivery_statuses.DELIVERY_STATUSES:
            # A status Twilio added later: acknowledged, not stored, so it never hides a known one.
            log.info("twilio_status_ignored", message_sid=sid, status=status)
            return
        found = await delivery_statuses.set_delivery_status(db_session, sid, status)
        log.info("twilio_status", message_sid=sid, status=status, error_code=error_code, known=found)
