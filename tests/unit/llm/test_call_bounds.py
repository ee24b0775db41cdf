"""The most a Messages call can cost, from its request alone, and what a shared-key call may ask for."""

from __future__ import annotations

import json

import msgspec
import pytest

from yourclaw.llm import call_bounds, catalog

pytestmark = pytest.mark.unit


def body(**fields) -> bytes:
    return json.dumps({"model": "claude-opus-5", "max_tokens": 1000, "messages": [], **fields}).encode()


def test_the_input_bound_is_the_body_size_plus_overhead_within_the_context_window():
    small = body(messages=[{"role": "user", "content": "hi"}])
    head = call_bounds.read_head(small)
    assert head is not None
    assert head.input_bound == len(small) + call_bounds.INPUT_OVERHEAD_TOKENS
    # ~200k words: the context window caps it.
    huge = body(messages=[{"role": "user", "content": "word " * 200_000}])
    assert call_bounds.read_head(huge).input_bound == catalog.limits_for("claude-opus-5").context_window


def test_a_document_may_cost_more_tokens_than_its_bytes_so_it_bounds_at_the_context_window():
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    head = call_bounds.read_head(body(messages=[{"role": "user", "content": [pdf]}]))
    assert head.input_bound == catalog.limits_for("claude-opus-5").context_window


def test_the_worst_case_prices_all_input_as_cache_writes_and_all_of_max_tokens():
    prices = catalog.priced("claude-opus-5")
    assert call_bounds.worst_case("claude-opus-5", 1_000_000, 0) == prices.cache_write_1h
    assert call_bounds.worst_case("claude-opus-5", 1_000_000, 0, long_cache=False) == prices.cache_write
    assert not call_bounds.read_head(body()).long_cache
    cached = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert call_bounds.read_head(body(system=cached)).long_cache
    assert call_bounds.worst_case("claude-opus-5", 0, 1_000_000) == prices.output
    assert call_bounds.worst_case("claude-opus-5", 1, 1) == 1 + (prices.cache_write_1h + prices.output) // 1_000_000


def test_max_tokens_is_bounded_by_the_model_and_cut_to_what_credit_pays_for():
    assert call_bounds.output_bound(call_bounds.read_head(body(max_tokens=10**9))) == 128_000
    assert call_bounds.output_bound(call_bounds.read_head(body(max_tokens=None))) == 128_000
    affordable = call_bounds.affordable_output("claude-opus-5", 1000, 10_000)
    assert call_bounds.worst_case("claude-opus-5", 1000, affordable) <= 10_000
    assert call_bounds.worst_case("claude-opus-5", 1000, affordable + 1) > 10_000
    assert call_bounds.affordable_output("claude-opus-5", 10**9, 10) == 0


def test_a_new_max_tokens_keeps_every_other_field_as_it_came():
    original = b'{"model":"m","max_tokens":99999,"messages":[{"role":"user","content":"\\u00e9 x"}],"z":[1,2.50]}'
    rewritten = msgspec.json.decode(call_bounds.with_max_tokens(original, 123))
    assert rewritten["max_tokens"] == 123
    assert rewritten["messages"][0]["content"] == "é x" and rewritten["z"] == [1, 2.5]
    assert b'"z":[1,2.50]' in call_bounds.with_max_tokens(original, 123)


def test_server_tools_are_found_and_client_tools_are_not():
    tools = [
        {"name": "read", "input_schema": {}},
        {"type": "custom", "name": "x", "input_schema": {}},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 50},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ]
    head = call_bounds.read_head(body(tools=tools))
    assert head.server_tools == ("web_search_20250305", "code_execution_20250825")
    assert call_bounds.read_head(body(tools=tools[:3])).server_tools == ()


def test_thinking_budget_is_read_only_when_enabled():
    assert call_bounds.read_head(body(thinking={"type": "enabled", "budget_tokens": 2048})).thinking_budget == 2048
    assert call_bounds.read_head(body(thinking={"type": "disabled"})).thinking_budget is None


def test_what_is_not_a_messages_request_reads_as_nothing():
    assert call_bounds.read_head(b"[1, 2]") is None
    assert call_bounds.read_head(b"not json") is None
    assert call_bounds.read_head(b'{"model": 5}') is None


def test_token_counting_gets_only_the_fields_it_accepts():
    counted = msgspec.json.decode(call_bounds.count_tokens_body(body(stream=True, system="s", temperature=0.5)))
    assert set(counted) == {"model", "messages", "system"}


def test_only_allowed_betas_go_on_with_the_shared_key():
    kept, dropped = call_bounds.allowed_betas(
        "fine-grained-tool-streaming-2025-05-14, context-1m-2025-08-07,"
        "interleaved-thinking-2025-05-14,,mcp-client-2025-04-04"
    )
    assert kept == "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14"
    assert dropped == ["context-1m-2025-08-07", "mcp-client-2025-04-04"]
