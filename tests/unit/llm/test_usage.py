"""Reading exact usage from Anthropic answers as they pass, whatever the chunk boundaries."""

from __future__ import annotations

import json

import pytest

from yourclaw.llm.usage import Usage, UsageReader, request_head

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


def test_request_head_decodes_only_model_and_stream():
    assert request_head(b'{"model": "claude-haiku-4-5", "stream": true, "messages": []}') == ("claude-haiku-4-5", True)
    assert request_head(b'{"messages": []}') == ("", False)
    assert request_head(b"[1, 2]") is None
    assert request_head(b"not json") is None
