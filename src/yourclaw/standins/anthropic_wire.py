"""The Anthropic stand-in's answers in Anthropic's wire shapes: whole messages, errors, and a streamed answer
event by event (message_start, content_block_*, message_delta, message_stop) that notices a client gone."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from yourclaw.standins.anthropic import AnthropicStandin


@dataclass(frozen=True)
class ToolCall:
    """A model answer that calls one of the caller's tools (`name` as the request declared it) instead of
    answering in text."""

    name: str
    input: dict


@dataclass
class Plan:
    kind: str  # "error": answer an HTTP error; "break": an error event after message_start
    status: int = 500
    error_type: str = "api_error"
    message: str = ""


def error_body(error_type: str, message: str) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": new_id("req_")}


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


class ClientGone(Exception):
    """The client closed the connection."""


class EventStream:
    """One streamed answer, event by event, noticing a client that hangs up."""

    def __init__(self, request: web.Request, standin: AnthropicStandin) -> None:
        self._request = request
        self._standin = standin
        self.response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": new_id("req_"),
            },
        )
        self.response.enable_chunked_encoding()

    def _gone(self) -> bool:
        transport = self._request.transport
        return transport is None or transport.is_closing()

    async def _event(self, name: str, data: dict) -> None:
        if self._gone():
            raise ClientGone
        try:
            await self.response.write(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())
        except (ConnectionError, RuntimeError) as exc:  # aiohttp: "Cannot write to closing transport"
            raise ClientGone from exc

    async def _pause(self) -> None:
        delay = self._standin.event_delay
        if delay > 0:
            await asyncio.sleep(delay)
        if self._gone():
            raise ClientGone

    async def _wait_release(self) -> None:
        while not self._standin._release.is_set():
            await asyncio.sleep(0.02)
            if self._gone():
                raise ClientGone

    async def send(self, body: dict, plan: Plan | None) -> None:
        standin = self._standin
        answer = standin.answer(body)
        text = answer if isinstance(answer, str) else json.dumps(answer.input)
        usage = standin.usage_for(body, text)
        await self.response.prepare(self._request)
        start = message_body(body["model"], "", usage | {"output_tokens": min(1, usage["output_tokens"])})
        await self._event("message_start", {"type": "message_start", "message": start})
        if plan is not None and plan.kind == "break":
            await self._pause()
            await self._event("error", error_body(plan.error_type, plan.message))
            await self.response.write_eof()
            standin._count("completed")
            return
        events = _block_events(answer)
        for name, data in events:
            await self._pause()
            await self._event(name, data)
        await self._wait_release()
        await self._pause()
        final = {"output_tokens": usage["output_tokens"]}
        stop = "end_turn" if isinstance(answer, str) else "tool_use"
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": final}
        await self._event("message_delta", delta)
        await self._event("message_stop", {"type": "message_stop"})
        await self.response.write_eof()
        standin._count("completed")


def json_answer(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers={"request-id": new_id("req_"), **(headers or {})})


def error_answer(status: int, error_type: str, message: str) -> web.Response:
    extra = {"x-should-retry": "true"} if status >= 500 else {}
    return json_answer(status, error_body(error_type, message), extra)


def _block_events(answer: str | ToolCall) -> list[tuple[str, dict]]:
    """The content block of an answer, streamed: text word by word, a tool call's input as one JSON delta."""
    if isinstance(answer, ToolCall):
        block = {"type": "tool_use", "id": new_id("toolu_"), "name": answer.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": json.dumps(answer.input)}]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces(answer)]
    events: list[tuple[str, dict]] = [
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        ("ping", {"type": "ping"}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    return events


def pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] or [""]


def message_body(model: str, answer: str | ToolCall, usage: dict[str, int]) -> dict:
    if isinstance(answer, ToolCall):
        content = [{"type": "tool_use", "id": new_id("toolu_"), "name": answer.name, "input": answer.input}]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": answer}] if answer else []
        stop = "end_turn" if answer else None
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
