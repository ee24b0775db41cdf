"""The voice-note transcription proxy, OpenAI-compatible (`POST {base}/v1/audio/transcriptions`): OpenClaw's
audio understanding (`tools.media.models`, provider `openai`) points its base URL here with the assistant token
as its key. Each note is admitted while the user is under today's minutes (TRANSCRIPTION_MINUTES_PER_DAY) with
its worst case held against the credits, sent to TRANSCRIPTION_BASE_URL with the control plane's
OPENAI_API_KEY, and charged by the audio's duration as the upstream measured it."""

from __future__ import annotations

import math

import httpx
import msgspec
import structlog
from litestar import Controller, Request, Response, post
from litestar.di import Provide

from yourclaw.kit.di import HttpClient, Sessions, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.protocol.auth import AssistantOwner, provide_assistant
from yourclaw.senses import metering
from yourclaw.senses.errors import AudioTooLarge, InvalidAudio, TranscriptionNotConfigured, UpstreamFailed
from yourclaw.senses.multipart import parse_form

log = structlog.get_logger(__name__)

PREFIX = "/transcribe"
# The form's fields beyond the file and the audio: room for the model name, a prompt, a language.
FORM_OVERHEAD = 64 * 1024
# The slowest voice-note audio (Opus at 6 kbit/s): the most seconds a number of bytes can hold, for the hold.
MIN_BYTES_PER_SECOND = 750
UPSTREAM_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
# What the client may ask that we pass on (the model and the answer's format are ours to choose).
PASSED_FIELDS = ("language", "prompt", "temperature")


def transcription_base_url(api_url: str) -> str:
    """What a container's audio model entry is given as its base URL (the client appends /audio/transcriptions)."""
    return api_url.rstrip("/") + PREFIX + "/v1"


def price(settings: Settings, seconds: float) -> int:
    """Millicents for `seconds` of audio: charged by the second, rounded up."""
    return math.ceil(math.ceil(seconds) * settings.transcription_price_millicents_per_minute / 60)


def worst_case_seconds(settings: Settings, size: int) -> int:
    """The most audio `size` bytes can hold, but never more than the day allows."""
    return min(math.ceil(size / MIN_BYTES_PER_SECOND), settings.transcription_minutes_per_day * 60)


def _duration(answer: dict) -> float | None:
    duration = answer.get("duration")
    if isinstance(duration, int | float) and duration >= 0:
        return float(duration)
    usage = answer.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("seconds"), int | float) and usage["seconds"] >= 0:
        return float(usage["seconds"])
    return None


async def _read_bounded(request: Request, cap: int) -> bytes:
    too_large = AudioTooLarge(f"A voice note may be at most {cap // (1024 * 1024)} MB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap + FORM_OVERHEAD:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap + FORM_OVERHEAD:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class TranscriptionController(Controller):
    path = PREFIX
    tags = ["senses"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @post("/v1/audio/transcriptions", status_code=200, request_max_body_size=None)
    async def transcribe(
        self, request: Request, settings: SettingsDep, sessions: Sessions, http: HttpClient, assistant: AssistantOwner
    ) -> Response[bytes]:
        if not settings.openai_api_key:
            raise TranscriptionNotConfigured("Voice notes cannot be transcribed on this service yet")
        body = await _read_bounded(request, settings.transcription_max_bytes)
        form = parse_form(request.headers.get("content-type", ""), body)
        if form is None or not form.file:
            raise InvalidAudio("Send the audio as multipart/form-data with a non-empty `file` part")
        if len(form.file) > settings.transcription_max_bytes:
            raise AudioTooLarge(f"A voice note may be at most {settings.transcription_max_bytes // (1024 * 1024)} MB")
        user_id = assistant.user_id
        admitted = await metering.admit(
            sessions,
            user_id,
            "transcription",
            hold_millicents=price(settings, worst_case_seconds(settings, len(form.file))),
            units=0,
            daily_cap=settings.transcription_minutes_per_day * 60,
            cap_message=(
                f"Today's {settings.transcription_minutes_per_day} minutes of voice notes are used up; "
                "voice notes are transcribed again tomorrow (UTC). Typed messages work as always"
            ),
        )
        data = {"model": settings.transcription_model, "response_format": "verbose_json"}
        data |= {k: form.fields[k] for k in PASSED_FIELDS if form.fields.get(k)}
        try:
            upstream = await http.post(
                settings.transcription_base_url.rstrip("/") + "/audio/transcriptions",
                data=data,
                files={"file": (form.filename, form.file, form.file_type)},
                headers={"Authorization": f"Bearer {settings.openai_api_key}"},
                timeout=UPSTREAM_TIMEOUT,
            )
            answer = upstream.json() if upstream.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            await metering.give_back(sessions, user_id, "transcription", admitted)
            log.warning("transcription_upstream_failed", error=type(exc).__name__)
            raise UpstreamFailed("The voice note could not be transcribed; try again in a moment") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            await metering.give_back(sessions, user_id, "transcription", admitted)
            log.warning("transcription_upstream_refused", status=upstream.status_code)
            raise UpstreamFailed("The voice note could not be transcribed")
        seconds = _duration(answer)
        if seconds is None:
            # Not measured by the upstream: charged as the most the bytes can hold (the hold), never for free.
            seconds = float(worst_case_seconds(settings, len(form.file)))
        await metering.settle(
            sessions,
            user_id,
            "transcription",
            admitted,
            cost_millicents=price(settings, seconds),
            units=math.ceil(seconds),
        )
        return Response(msgspec.json.encode({"text": answer["text"]}), media_type="application/json")
