"""What messaging can refuse: Twilio's webhooks that are unsigned or malformed, and the conversation view."""

from __future__ import annotations

from yourclaw.kit.errors import Forbidden, NotFound, ServiceUnavailable, Unprocessable


class TwilioWebhooksNotConfigured(ServiceUnavailable):
    code = "TWILIO_NOT_CONFIGURED"


class InvalidTwilioSignature(Forbidden):
    code = "INVALID_SIGNATURE"


class MissingMessageSid(Unprocessable):
    code = "MISSING_MESSAGE_SID"


class InvalidMessageSid(Unprocessable):
    code = "INVALID_MESSAGE_SID"


class InvalidFrom(Unprocessable):
    code = "INVALID_FROM"


class InvalidNumMedia(Unprocessable):
    code = "INVALID_NUM_MEDIA"


class MissingMessageStatus(Unprocessable):
    code = "MISSING_MESSAGE_STATUS"


class InvalidMessageStatus(Unprocessable):
    code = "INVALID_MESSAGE_STATUS"


class UnknownCursor(NotFound):
    code = "UNKNOWN_CURSOR"
