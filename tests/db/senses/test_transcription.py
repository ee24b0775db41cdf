"""The transcription proxy on the real app and PostgreSQL, against the transcription stand-in (an OpenAI
client's multipart request): the assistant token as the key, the control plane's key upstream, charged by the
audio's measured duration, the daily minutes, no credits, and a failure that costs nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from tests.harness.assistant_protocol import Owner, Served, make_owner, serve
from tests.harness.settings import make_settings
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import CreditLedgerEntry, CreditReservation, ServiceUsageDaily, UserCredits
from yourclaw.standins.transcription import TranscriptionStandin

pytestmark = pytest.mark.db

TRANSCRIBE = "/transcribe/v1/audio/transcriptions"
PER_MINUTE = 600
MINUTES_PER_DAY = 2
VOICE = b"OggS" + bytes(range(256)) * 16  # what a client uploads; the stand-in is told what it says


@pytest.fixture
def transcriber() -> Iterator[TranscriptionStandin]:
    standin = TranscriptionStandin()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
async def served(database_url, db, transcriber) -> AsyncIterator[Served]:
    settings = make_settings(
        database_url,
        OPENAI_API_KEY=transcriber.api_key,
        TRANSCRIPTION_BASE_URL=transcriber.base_url,
        TRANSCRIPTION_PRICE_MILLICENTS_PER_MINUTE=str(PER_MINUTE),
        TRANSCRIPTION_MINUTES_PER_DAY=str(MINUTES_PER_DAY),
        TRANSCRIPTION_MAX_BYTES=str(64 * 1024),
    )
    async with serve(settings) as served:
        yield served


async def funded(sessions, millicents: int = 100_000) -> Owner:
    owner = await make_owner(sessions)
    async with sessions() as s:
        await credits_repo.grant(s, owner.user_id, millicents, reference=f"grant-{uuid.uuid4()}")
        await s.commit()
    return owner


async def transcribe(served: Served, owner: Owner, audio: bytes = VOICE, **fields: str):
    """As OpenClaw's OpenAI audio provider asks: multipart, the configured key as a bearer token."""
    return await served.http.post(
        TRANSCRIBE,
        files={"file": ("voice.ogg", audio, "audio/ogg")},
        data={"model": "gpt-4o-transcribe", **fields},
        headers={"Authorization": f"Bearer {owner.token}"},
    )


async def state(sessions, user_id) -> tuple[int, int, int, ServiceUsageDaily | None]:
    async with sessions() as s:
        credits = await s.scalar(select(UserCredits).where(UserCredits.user_id == user_id))
        holds = len((await s.scalars(select(CreditReservation).where(CreditReservation.user_id == user_id))).all())
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == user_id))
        return credits.used_millicents, credits.reserved_millicents, holds, day


async def test_a_voice_note_is_transcribed_upstream_and_charged_by_its_duration(served, sessions, transcriber):
    alice = await funded(sessions)
    transcriber.says(VOICE, "Remind me to call mum at six.", seconds=12.3)
    response = await transcribe(served, alice, language="en")
    assert response.status_code == 200, response.text
    assert response.json() == {"text": "Remind me to call mum at six."}
    (heard,) = transcriber.heard
    # Our model and our answer format (to read the duration), whatever the container asked for.
    assert (heard.model, heard.response_format, heard.size, heard.content_type) == (
        "whisper-1",
        "verbose_json",
        len(VOICE),
        "audio/ogg",
    )
    cost = 13 * PER_MINUTE // 60  # 13 s, by the second, rounded up
    used, reserved, holds, day = await state(sessions, alice.user_id)
    assert (used, reserved, holds) == (cost, 0, 0)
    assert (day.service, day.calls, day.units, day.millicents) == ("transcription", 1, 13, cost)
    async with sessions() as s:
        ledger = (await s.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.reason == "TRANSCRIPTION"))).all()
    assert [e.delta_millicents for e in ledger] == [-cost]


async def test_todays_minutes_run_out_with_a_clear_message(served, sessions, transcriber):
    alice = await funded(sessions)
    transcriber.says(VOICE, "long", seconds=MINUTES_PER_DAY * 60 + 5)  # one note past the day's minutes
    assert (await transcribe(served, alice)).status_code == 200
    refused = await transcribe(served, alice)
    assert refused.status_code == 429
    assert refused.json()["code"] == "DAILY_CAP_REACHED"
    assert f"{MINUTES_PER_DAY} minutes of voice notes" in refused.json()["detail"]
    assert len(transcriber.heard) == 1


async def test_without_credits_nothing_is_sent_upstream(served, sessions, transcriber):
    poor = await funded(sessions, millicents=1)
    response = await transcribe(served, poor)
    assert response.status_code == 402 and response.json()["code"] == "NO_CREDITS"
    assert transcriber.heard == []


async def test_an_upstream_failure_costs_nothing(served, sessions, transcriber):
    alice = await funded(sessions)
    transcriber.fail_next()
    failed = await transcribe(served, alice)
    assert failed.status_code == 503 and failed.json()["code"] == "UPSTREAM_FAILED"
    used, reserved, holds, day = await state(sessions, alice.user_id)
    assert (used, reserved, holds) == (0, 0, 0)
    assert (day.calls, day.units, day.millicents) == (0, 0, 0)


async def test_bad_uploads_are_refused_before_anything_is_held(served, sessions, transcriber):
    alice = await funded(sessions)
    too_big = await transcribe(served, alice, audio=b"x" * (200 * 1024))
    assert too_big.status_code == 413 and too_big.json()["code"] == "AUDIO_TOO_LARGE"
    not_a_form = await served.http.post(
        TRANSCRIBE,
        content=b"{}",
        headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"},
    )
    assert not_a_form.status_code == 422 and not_a_form.json()["code"] == "INVALID_AUDIO"
    stranger = await served.http.post(TRANSCRIBE, files={"file": ("v.ogg", VOICE, "audio/ogg")})
    assert stranger.status_code == 401
    assert transcriber.heard == []
    used, reserved, holds, _ = await state(sessions, alice.user_id)
    assert (used, reserved, holds) == (0, 0, 0)
