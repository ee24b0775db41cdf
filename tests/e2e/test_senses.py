"""Everyday senses with the real OpenClaw image: web search through our proxy with "typing…" while it runs;
a voice note transcribed through our proxy, a picture the user sends reaching the model as an image, and a
picture the assistant makes reaching WhatsApp as media. Brave, the transcriber,
Anthropic and Twilio are local stand-ins, spoken to by our proxies and the real SDKs; no search or
transcription key is ever in the container.

Run with `-s` to see the calls made."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness.database import truncate
from tests.harness.journey import onboard
from tests.harness.journey_support import (
    TURN_TIMEOUT,
    WHATSAPP_WEBHOOK,
    WORKSPACE,
    ControlPlane,
    User,
    describe_calls,
    docker_call,
    key_sightings,
    log_lines,
    message_calls,
    run_in,
    split_body,
)
from tests.harness.openclaw_stack import control_plane_stack
from tests.harness.waiting import wait_for
from yourclaw.standins.anthropic_wire import ToolCall
from yourclaw.standins.brave import BraveStandin, Result
from yourclaw.standins.transcription import TranscriptionStandin

pytestmark = pytest.mark.e2e

SEARCH_ASK = "what is the opening time of the lisbon oceanarium"
QUERY = "lisbon oceanarium opening hours"
FOUND = Result("Oceanário de Lisboa: hours", "https://oceanario.example/hours", "Open every day 10:00-19:00.")
CITED = f"The oceanarium opens at 10:00 (source: {FOUND.url})"
TRANSCRIPT = "remind me to water the basil plant tonight"
HEARD = "Got it, I heard: "
PICTURE_ASK = "what is in this picture"
SAW = "I can see your picture."
CHART_ASK = "send me the chart"
CHART = f"{WORKSPACE}/chart.png"
SENT_CHART = "Here is the chart."


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small, valid PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# A voice note as WhatsApp sends it (OGG); the transcriber stand-in is told what it says. Past OpenClaw's
# 1024-byte floor for audio worth transcribing.
VOICE = b"OggS\x00\x02" + bytes(range(256)) * 12


def has_image_block(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "image" for block in content
    )


def trailing(messages: list[dict]) -> list[dict]:
    """The messages after the model's last turn: the user's, tool results and OpenClaw's context notes."""
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") != "assistant":
        start -= 1
    return messages[start:]


def model(body: dict):
    """The user's model, scripted: searches when asked (a direct tool, or through code mode's `exec`), cites
    what the search found, answers a transcript, says it sees a picture, and attaches the chart."""
    messages = body.get("messages") or []
    fresh = trailing(messages)
    fresh_json = json.dumps(fresh)
    tools = {tool.get("name") for tool in body.get("tools") or []}
    _, latest = split_body(body)
    if "tool_result" in fresh_json:
        return CITED if FOUND.url in fresh_json else "the search result did not reach me"
    if SEARCH_ASK in latest and "web_search" in tools:
        return ToolCall("web_search", {"query": QUERY})
    if SEARCH_ASK in latest and "exec" in tools:
        code = f"return await web_search({{query: {json.dumps(QUERY)}}});"
        return ToolCall("exec", {"title": "search", "code": code})
    if TRANSCRIPT in latest:
        return HEARD + TRANSCRIPT
    if any(has_image_block(message) for message in fresh):
        return SAW
    if CHART_ASK in latest:
        return f"{SENT_CHART}\n\nMEDIA:{CHART}"
    return None


@pytest.fixture
async def senses(openclaw_engine, database_url, sessions, engine, tmp_path) -> AsyncIterator[tuple]:
    brave, transcriber = BraveStandin(), TranscriptionStandin()
    brave.start()
    transcriber.start()
    extra = {
        "BRAVE_SEARCH_API_KEY": brave.api_key,
        "BRAVE_SEARCH_BASE_URL": brave.base_url,
        "OPENAI_API_KEY": transcriber.api_key,
        "TRANSCRIPTION_BASE_URL": transcriber.base_url,
    }
    try:
        async with control_plane_stack(openclaw_engine, database_url, sessions, tmp_path, extra_settings=extra) as cp:
            yield cp, brave, transcriber
    finally:
        await truncate(engine)
        brave.stop()
        transcriber.stop()


async def send(user: User, body: str = "", media: tuple[tuple[bytes, str], ...] = ()) -> str:
    """Twilio delivering a WhatsApp message (with media) from the user, signed; returns its MessageSid."""
    url = user.cp.settings.api_url + WHATSAPP_WEBHOOK
    sid, response = await asyncio.to_thread(user.cp.twilio.post_inbound, url, user.phone, body, media=list(media))
    assert response.status_code == 200, response.text
    return sid


@pytest.mark.timeout(1800)
async def test_web_search_goes_through_our_proxy_with_typing_and_no_key_in_the_container(senses):
    cp, brave, transcriber = senses
    cp.llm.script = model
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await _search(user, cp, brave, transcriber)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            raise


@pytest.mark.timeout(1800)
async def test_voice_notes_and_pictures_both_ways_with_the_real_image(senses):
    cp, brave, transcriber = senses
    cp.llm.script = model
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await _voice_and_pictures(user, cp, transcriber)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            await _print_gateway_logs(cp)
            raise


async def _search(user: User, cp: ControlPlane, brave: BraveStandin, transcriber: TranscriptionStandin) -> None:
    onboarded = await onboard(user)
    container = onboarded.row.container_id
    brave.answer(QUERY, [FOUND])

    # Web search: the model's web_search reaches the Brave stand-in through our proxy; the answer cites it.
    sent = len(user.received())
    sid = await send(user, SEARCH_ASK)
    await user.wait_message(CITED, after=sent)
    assert brave.queries == [QUERY]

    # "typing…" was shown for the message, against its own MessageSid.
    await wait_for(lambda: sid in cp.twilio.typing, timeout=TURN_TIMEOUT, message="a typing indicator")

    # The query was charged, and shows in the usage.
    usage = await user.api("GET", "/usage", 200)
    by_service = {row["service"]: row for row in usage["senses"]}
    assert by_service["search"]["calls"] == 1 and by_service["search"]["millicents"] > 0, usage["senses"]

    # The shared search and transcription keys never entered the container.
    keys = (brave.api_key, transcriber.api_key)
    assert await docker_call(key_sightings, cp.oc, container, keys) == []


async def _voice_and_pictures(user: User, cp: ControlPlane, transcriber: TranscriptionStandin) -> None:
    onboarded = await onboard(user)
    container = onboarded.row.container_id

    # A voice note: transcribed by the stand-in through our proxy, and the reply uses the transcript.
    transcriber.says(VOICE, TRANSCRIPT, seconds=4.2)
    sent = len(user.received())
    await send(user, media=((VOICE, "audio/ogg"),))
    await user.wait_message(HEARD + TRANSCRIPT, after=sent)
    assert [h.size for h in transcriber.heard] == [len(VOICE)]

    # A picture: it reaches the model as an image block.
    calls = len(message_calls(cp.llm))
    sent = len(user.received())
    await send(user, PICTURE_ASK, media=((png(), "image/png"),))
    await user.wait_message(SAW, after=sent)
    made = message_calls(cp.llm)[calls:]
    assert any(has_image_block(m) for c in made for m in c.json().get("messages", [])), describe_calls(made)

    # A picture the assistant made: it reaches WhatsApp (the Twilio stand-in) as media.
    script = f"echo {base64.b64encode(png(rgb=(20, 90, 200))).decode()} | base64 -d > {CHART}"
    code, _, err = await docker_call(run_in, cp.oc, container, "sh", "-c", script)
    assert code == 0, err
    sent = len(user.received())
    await send(user, CHART_ASK)
    reply = await user.wait_message(SENT_CHART, after=sent)
    assert reply.message.media_urls, reply.message
    media = await user.http.get(reply.message.media_urls[0])
    assert media.status_code == 200 and media.content.startswith(b"\x89PNG"), media.status_code

    usage = await user.api("GET", "/usage", 200)
    by_service = {row["service"]: row for row in usage["senses"]}
    assert by_service["transcription"]["units"] == 5 and by_service["transcription"]["millicents"] > 0


async def _print_gateway_logs(cp: ControlPlane) -> None:
    """The gateway log of every container of the run: why a voice note or a picture went astray."""
    for container in await asyncio.to_thread(cp.oc.client.containers.list, all=True):
        print(f"\n==== gateway log of {container.short_id} ====")
        for _, line in await docker_call(log_lines, cp.oc, container.id):
            print(line)
