"""What the search and transcription proxies refuse. The details reach the model (OpenClaw puts a failed
tool's answer in front of it), so they say plainly what happened and what the user can do."""

from __future__ import annotations

from yourclaw.kit.errors import PayloadTooLarge, PaymentRequired, ServiceUnavailable, TooManyRequests, Unprocessable


class SearchNotConfigured(ServiceUnavailable):
    code = "SEARCH_NOT_CONFIGURED"


class TranscriptionNotConfigured(ServiceUnavailable):
    code = "TRANSCRIPTION_NOT_CONFIGURED"


class DailyCapReached(TooManyRequests):
    code = "DAILY_CAP_REACHED"


class ServiceBusy(TooManyRequests):
    code = "SERVICE_BUSY"


class NoCredits(PaymentRequired):
    code = "NO_CREDITS"


class InvalidQuery(Unprocessable):
    code = "INVALID_QUERY"


class InvalidAudio(Unprocessable):
    code = "INVALID_AUDIO"


class AudioTooLarge(PayloadTooLarge):
    code = "AUDIO_TOO_LARGE"


class UpstreamFailed(ServiceUnavailable):
    code = "UPSTREAM_FAILED"
