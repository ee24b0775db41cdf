"""What the assistant protocol can refuse (docs/assistant-protocol.md lists every code; the channel plugin
acts on some of them, so a code never changes)."""

from __future__ import annotations

from yourclaw.kit.errors import Conflict, Forbidden, NotAuthenticated, NotFound, PayloadTooLarge, Unprocessable


class InvalidAssistantToken(NotAuthenticated):
    code = "INVALID_ASSISTANT_TOKEN"


class InstanceSuperseded(Conflict):
    code = "INSTANCE_SUPERSEDED"


class MessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"


class LeaseNotHeld(Conflict):
    code = "LEASE_NOT_HELD"


class MessageNotLeased(Conflict):
    code = "MESSAGE_NOT_LEASED"


class IdempotencyKeyRequired(Unprocessable):
    code = "IDEMPOTENCY_KEY_REQUIRED"


class IdempotencyKeyTooLong(Unprocessable):
    code = "IDEMPOTENCY_KEY_TOO_LONG"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class TextTooLong(PayloadTooLarge):
    code = "TEXT_TOO_LONG"


class EmptyMessage(Unprocessable):
    code = "EMPTY_MESSAGE"


class UnknownMedia(Unprocessable):
    code = "UNKNOWN_MEDIA"


class InvalidContentType(Unprocessable):
    code = "INVALID_CONTENT_TYPE"


class MediaTooLarge(PayloadTooLarge):
    code = "MEDIA_TOO_LARGE"


class MediaQuotaExceeded(PayloadTooLarge):
    code = "MEDIA_QUOTA_EXCEEDED"


class EmptyMedia(Unprocessable):
    code = "EMPTY_MEDIA"


class MediaUrlExpired(Forbidden):
    code = "MEDIA_URL_EXPIRED"


class MediaUrlInvalid(Forbidden):
    code = "MEDIA_URL_INVALID"


class MediaNotFound(NotFound):
    code = "MEDIA_NOT_FOUND"
