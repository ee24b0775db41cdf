"""The Anthropic stand-in as a scripted model: a test decides per request whether it answers in text or calls
one of the caller's tools, streamed or not, in Anthropic's shapes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.harness.llm_proxy import events
from yourclaw.standins.anthropic import AnthropicStandin
from yourclaw.standins.anthropic_wire import ToolCall

pytestmark = pytest.mark.unit

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
CALL = ToolCall("exec", {"code": "return await automations({action: 'list'})"})


def _script(body: dict) -> ToolCall | str | None:
    last = json.dumps(body["messages"][-1])
    if "tool_result" in last:
        return "Done."
    return CALL if "watch" in last else None


@pytest.fixture
def standin():
    model = AnthropicStandin(reply="plain", script=_script)
    model.start()
    yield model
    model.stop()


def _body(content, *, stream: bool) -> dict:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }


def test_a_streamed_tool_call_carries_its_whole_input_and_stops_for_the_tool(standin):
    answer = httpx.post(standin.base_url + "/v1/messages", json=_body("watch this", stream=True), headers=HEADERS)
    sent = events(answer.content)
    start = next(e for e in sent if e["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["name"] == "exec"
    partial = "".join(e["delta"]["partial_json"] for e in sent if e["type"] == "content_block_delta")
    assert json.loads(partial) == CALL.input
    stop = next(e for e in sent if e["type"] == "message_delta")
    assert stop["delta"]["stop_reason"] == "tool_use"


def test_a_plain_answer_calls_the_tool_too_and_the_script_can_fall_back_to_the_reply(standin):
    called = httpx.post(standin.base_url + "/v1/messages", json=_body("watch this", stream=False), headers=HEADERS)
    (block,) = called.json()["content"]
    assert block["type"] == "tool_use" and block["input"] == CALL.input and called.json()["stop_reason"] == "tool_use"
    result = [{"type": "tool_result", "tool_use_id": block["id"], "content": "ok"}]
    after = httpx.post(standin.base_url + "/v1/messages", json=_body(result, stream=False), headers=HEADERS)
    assert after.json()["content"] == [{"type": "text", "text": "Done."}]
    other = httpx.post(standin.base_url + "/v1/messages", json=_body("hello", stream=True), headers=HEADERS)
    assert "".join(e["delta"].get("text", "") for e in events(other.content) if e["type"] == "content_block_delta") == (
        "plain"
    )
