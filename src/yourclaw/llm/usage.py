"""Exact token usage read from Anthropic Messages answers as they pass through the proxy.

Streaming: `message_start` carries the input side (input, cache write, cache read) and a first output count;
each `message_delta` carries cumulative counts that replace earlier ones (output always, the input side when
server tools changed it). Non-streaming: the message's `usage` object. Whatever was seen is what is charged,
so a stream cut short is still charged for what it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import structlog

log = structlog.get_logger(__name__)

_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
}
# Fields of `usage` that carry no count we price (or are read below); any other is logged once per process,
# as it may be something Anthropic bills that the price table does not know yet.
_KNOWN = {*_FIELDS, "cache_creation", "server_tool_use", "service_tier", "inference_geo"}
_reported: set[str] = set()


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0  # every cache write, both durations
    cache_read_tokens: int = 0
    cache_creation_1h_tokens: int = 0  # the part of the writes that went to the 1-hour cache
    server_tool_requests: dict[str, int] = field(default_factory=dict)  # e.g. web_search_requests

    @property
    def empty(self) -> bool:
        return not (
            self.input_tokens
            or self.output_tokens
            or self.cache_creation_tokens
            or self.cache_read_tokens
            or any(self.server_tool_requests.values())
        )

    def update(self, raw: object) -> None:
        """Take every count present in an upstream `usage` object (null and absent leave ours alone)."""
        if not isinstance(raw, dict):
            return
        for upstream, ours in _FIELDS.items():
            value = _count(raw.get(upstream))
            if value is not None:
                setattr(self, ours, value)
        creation = raw.get("cache_creation")
        if isinstance(creation, dict):
            value = _count(creation.get("ephemeral_1h_input_tokens"))
            if value is not None:
                self.cache_creation_1h_tokens = value
        tools = raw.get("server_tool_use")
        if isinstance(tools, dict):
            for name, count in tools.items():
                value = _count(count)
                if value is not None:
                    self.server_tool_requests[name] = value
        unknown = raw.keys() - _KNOWN - _reported
        if unknown:
            _reported.update(unknown)
            log.warning("llm_usage_unknown_fields", fields=sorted(unknown))


class UsageReader:
    """Fed the answer's bytes as they go by; knows the model and the usage so far at any moment."""

    def __init__(self, model: str, *, streaming: bool) -> None:
        self.model = model
        self.usage = Usage()
        self.streaming = streaming
        self.started = False  # a stream's message_start was seen: it carries the input side
        self.known = False  # some usage was read: what the call used is known, if only in part
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self.streaming:
            # A plain JSON answer is read whole at the end; it is one message, not a stream.
            self._buffer += chunk
            return
        if not self._buffer and chunk.endswith(b"\n") and b'"usage"' not in chunk:
            # Whole lines with no usage, most of a stream's text: nothing to keep or decode.
            return
        self._buffer += chunk
        end = self._buffer.rfind(b"\n")
        if end < 0:
            return
        complete = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        for line in complete.split(b"\n"):
            # Only the few lines with a usage object are decoded; text deltas go by untouched.
            if line.startswith(b"data:") and b'"usage"' in line:
                self._data(line[5:])

    def finish(self) -> Usage:
        if not self.streaming:
            self._message(bytes(self._buffer))
            self._buffer.clear()
        elif self._buffer.startswith(b"data:") and b'"usage"' in self._buffer:
            self._data(bytes(self._buffer[5:]))
            self._buffer.clear()
        return self.usage

    def _data(self, payload: bytes) -> None:
        try:
            event = msgspec.json.decode(payload.strip())
        except msgspec.DecodeError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                self.started = True
                self._take_model(message)
                self._take_usage(message.get("usage"))
        elif kind == "message_delta":
            self._take_usage(event.get("usage"))

    def _message(self, body: bytes) -> None:
        try:
            message = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return
        if isinstance(message, dict) and message.get("type") == "message":
            self._take_model(message)
            self._take_usage(message.get("usage"))

    def _take_usage(self, raw: object) -> None:
        if isinstance(raw, dict):
            self.known = True
            self.usage.update(raw)

    def _take_model(self, message: dict) -> None:
        # The upstream's own id (possibly dated) is what was served, so it is what is priced.
        model = message.get("model")
        if isinstance(model, str) and model:
            self.model = model
