"""Reading exact usage from Anthropic answers as they pass, whatever the chunk boundaries."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from yourclaw.llm.usage import Usage, UsageReader

pytestmark = pytest.mark.unit


def sse(*events: dict) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "model": "claude-haiku-4-5-20251001",
        "content": [],
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 300,
            "output_tokens": 1,
        },
    },
}
DELTA_TEXT = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 'say "usage"'}}
END = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 15}}
STREAM = sse(START, {"type": "ping"}, DELTA_TEXT, END, {"type": "message_stop"})


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_the_stream_usage_is_read_across_any_chunk_boundaries(size):
    reader = UsageReader("claude-haiku-4-5", streaming=True)
    for i in range(0, len(STREAM), size):
        reader.feed(STREAM[i : i + size])
    assert reader.finish() == Usage(25, 15, 100, 300)
    assert reader.model == "claude-haiku-4-5-20251001"


def test_message_delta_counts_replace_earlier_ones_and_nulls_are_ignored():
    delta = {
        "type": "message_delta",
        "usage": {"output_tokens": 9, "input_tokens": 40, "cache_read_input_tokens": None},
    }
    reader = UsageReader("m", streaming=True)
    reader.feed(sse(START, delta).replace(b"\n", b"\r\n"))
    assert reader.finish() == Usage(40, 9, 100, 300)


def test_a_stream_cut_after_message_start_still_counts_its_input():
    reader = UsageReader("m", streaming=True)
    reader.feed(sse(START, DELTA_TEXT)[:-30])
    assert reader.finish() == Usage(25, 1, 100, 300)


def test_a_plain_answer_is_read_whole():
    body = json.dumps({"type": "message", "model": "claude-opus-4-6", "usage": {"input_tokens": 3, "output_tokens": 4}})
    reader = UsageReader("claude-sonnet-4-6", streaming=False)
    for ch in body.encode():
        reader.feed(bytes([ch]))
    assert reader.finish() == Usage(3, 4, 0, 0)
    assert reader.model == "claude-opus-4-6"


def test_garbage_reads_as_no_usage():
    reader = UsageReader("m", streaming=True)
    reader.feed(b'data: {"usage": oops\n\ndata: [1, "usage"]\n\n')
    assert reader.finish().empty
    assert UsageReader("m", streaming=False).finish().empty


def test_one_hour_cache_writes_and_server_tool_uses_are_read_and_nothing_known_is_told_apart():
    reader = UsageReader("claude-sonnet-5", streaming=False)
    assert not reader.known
    usage = {
        "input_tokens": 10,
        "output_tokens": 3,
        "cache_creation_input_tokens": 500,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300},
        "server_tool_use": {"web_search_requests": 50, "web_fetch_requests": 2},
    }
    reader.feed(json.dumps({"type": "message", "model": "claude-sonnet-5", "usage": usage}).encode())
    read = reader.finish()
    assert reader.known
    assert (read.cache_creation_tokens, read.cache_creation_1h_tokens) == (500, 300)
    assert read.server_tool_requests == {"web_search_requests": 50, "web_fetch_requests": 2}
    assert not read.empty


def test_a_stream_is_started_by_its_first_event():
    reader = UsageReader("m", streaming=True)
    reader.feed(b"event: ping\ndata: {}\n\n")
    assert not reader.started and not reader.known
    reader.feed(sse(START))
    assert reader.started and reader.known


def test_a_usage_field_we_do_not_price_is_reported_once_and_counts_nothing():
    """A field Anthropic adds to usage is money we might not be charging: the operator hears of it once a
    process, not once a call."""
    field = "tokens_of_a_kind_not_yet_priced"
    with capture_logs() as logs:
        for _ in range(3):
            usage = Usage()
            usage.update({"input_tokens": 5, "output_tokens": 2, field: 40})
            assert (usage.input_tokens, usage.output_tokens) == (5, 2)
    reports = [entry for entry in logs if entry["event"] == "llm_usage_unknown_fields"]
    assert reports == [{"event": "llm_usage_unknown_fields", "fields": [field], "log_level": "warning"}]


def test_a_stream_read_event_by_event_as_upstream_sends_it_keeps_its_usage():
    """Whole events with no usage go by unread; the ones with usage are decoded."""
    reader = UsageReader("claude-haiku-4-5", streaming=True)
    for event in (START, {"type": "ping"}, DELTA_TEXT, END, {"type": "message_stop"}):
        reader.feed(sse(event))
    assert reader.finish() == Usage(25, 15, 100, 300)
