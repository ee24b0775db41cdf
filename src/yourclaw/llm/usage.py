"""Exact token usage read from Anthropic Messages answers as they pass through the proxy.

Streaming: `message_start` carries the input side (input, cache write, cache read) and a first output count;
each `message_delta` carries cumulative counts that replace earlier ones (output always, the input side when
server tools changed it). Non-streaming: the message's `usage` object. Whatever was seen is what is charged,
so a stream cut short is still charged for what it used.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
}


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def empty(self) -> bool:
        return not (self.input_tokens or self.output_tokens or self.cache_creation_tokens or self.cache_read_tokens)

    def update(self, raw: object) -> None:
        """Take every count present in an upstream `usage` object (null and absent leave ours alone)."""
        if not isinstance(raw, dict):
            return
        for upstream, ours in _FIELDS.items():
            value = raw.get(upstream)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, ours, value)


class _RequestHead(msgspec.Struct):
    model: str = ""
    stream: bool = False


def request_head(body: bytes) -> tuple[str, bool] | None:
    """The model and whether a stream was asked for; None when the body is not a JSON object. Only these
    two fields are decoded: the rest (a whole conversation) passes through untouched."""
    try:
        head = msgspec.json.decode(body, type=_RequestHead)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return head.model, head.stream


class UsageReader:
    """Fed the answer's bytes as they go by; knows the model and the usage so far at any moment."""

    def __init__(self, model: str, *, streaming: bool) -> None:
        self.model = model
        self.usage = Usage()
        self.streaming = streaming
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self.streaming:
            # A plain JSON answer is read whole at the end; it is one message, not a stream.
            self._buffer += chunk
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
                self._take_model(message)
                self.usage.update(message.get("usage"))
        elif kind == "message_delta":
            self.usage.update(event.get("usage"))

    def _message(self, body: bytes) -> None:
        try:
            message = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return
        if isinstance(message, dict) and message.get("type") == "message":
            self._take_model(message)
            self.usage.update(message.get("usage"))

    def _take_model(self, message: dict) -> None:
        # The upstream's own id (possibly dated) is what was served, so it is what is priced.
        model = message.get("model")
        if isinstance(model, str) and model:
            self.model = model
