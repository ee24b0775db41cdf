"""A local stand-in for the part of Anthropic's API the metering proxy forwards: `POST /v1/messages`
(streaming SSE and plain JSON), `POST /v1/messages/count_tokens` and `GET /v1/models`.

It answers in Anthropic's shapes (the event sequence message_start, content_block_*, message_delta,
message_stop; errors as `{"type": "error", "error": {...}}`), checks `x-api-key` and `anthropic-version` as
Anthropic does, and records every request with its headers and body. Tests set the usage it reports, a
delay between events, failures (500, 529 overloaded, an error event mid-stream), and can hold a stream
before its last events until released; it counts streams whose client went away before the end.

With no reply set it answers "(stand-in model) You said: ..." and estimates usage from the text, which is
what `yourclaw dev` runs in-process when no ANTHROPIC_API_KEY is set (see `llm/proxy.py`). The server runs
in a thread of its own; `python -m yourclaw.llm.anthropic_fake --port N` runs it as a process (the bench).
"""

from __future__ import annotations

import argparse
import json
import secrets
import select
import signal
import socket
import threading
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from yourclaw.local_server import LocalServer, QuietHandler

STANDIN_PREFIX = "(stand-in model) You said: "
MODELS = ("claude-sonnet-5", "claude-opus-5", "claude-haiku-4-5")  # llm.catalog.MODELS, upstream ids
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES = {"overloaded_error": "Overloaded", "api_error": "Internal server error"}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> object:
        return json.loads(self.body or b"null")


@dataclass
class _Plan:
    kind: str  # "error": answer an HTTP error; "break": an error event after message_start
    status: int = 500
    error_type: str = "api_error"
    message: str = ""


def error_body(error_type: str, message: str) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": _id("req_")}


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass
class AnthropicFake:
    # None: estimated from the text (the dev stand-in); else reported as given (Anthropic's field names).
    usage: dict[str, int] | None = None
    # None: echo the last user message after STANDIN_PREFIX.
    reply: str | None = None
    # Seconds between stream events (the first event goes out at once).
    event_delay: float = 0.0
    # None: any non-empty x-api-key is accepted.
    accepted_keys: set[str] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: deque[_Plan] = deque()
        self._requests: list[RecordedRequest] = []
        self._release = threading.Event()
        self._release.set()
        self.started = 0  # message calls answered 200, streaming or not
        self.completed = 0  # streams sent to their end
        self.aborted = 0  # streams whose client went away before the end
        self._local = LocalServer("Anthropic fake")

    # --- life -------------------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        return self._local.start(type("Handler", (_Handler,), {"fake": self}), port, host)

    def stop(self) -> None:
        self._release.set()
        self._local.stop()

    @property
    def base_url(self) -> str:
        return self._local.base_url

    # --- what tests look at and control ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    def fail_next(self, status: int = 500, error_type: str | None = None, message: str = "", count: int = 1) -> None:
        """Answer the next `count` message calls with this HTTP error."""
        kind = error_type or _STATUS_TYPES.get(status, "api_error")
        plan = _Plan("error", status, kind, message or _DEFAULT_MESSAGES.get(kind, "error"))
        with self._lock:
            self._plans.extend([plan] * count)

    def break_next_stream(self, error_type: str = "overloaded_error") -> None:
        """The next stream sends message_start, then an error event, and ends."""
        with self._lock:
            self._plans.append(_Plan("break", 200, error_type, _DEFAULT_MESSAGES.get(error_type, "error")))

    def hold(self) -> None:
        """Streams stop before their last events (message_delta, message_stop) until `release()`."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    # --- the answer -------------------------------------------------------------------------------

    def _next_plan(self) -> _Plan | None:
        with self._lock:
            return self._plans.popleft() if self._plans else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def answer_text(self, body: dict) -> str:
        if self.reply is not None:
            return self.reply
        return STANDIN_PREFIX + (_last_user_text(body) or "(nothing)")

    def usage_for(self, body: dict, text: str) -> dict[str, int]:
        if self.usage is not None:
            return {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            } | dict(self.usage)
        # Roughly four characters a token, as Anthropic's rule of thumb.
        prompt = json.dumps(body.get("messages", []))
        return {
            "input_tokens": max(1, len(prompt) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": max(1, len(text) // 4),
        }


def _last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


class _Gone(Exception):
    """The client closed the connection."""


class _Handler(QuietHandler):
    fake: AnthropicFake

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once, not wait for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --- plumbing ---------------------------------------------------------------------------------

    def _read(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = RecordedRequest(self.command, urlsplit(self.path).path, headers, body)
        self.fake._record(recorded)
        return recorded

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", _id("req_"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, error_type: str, message: str) -> None:
        extra = {"x-should-retry": "true"} if status >= 500 else {}
        self._json(status, error_body(error_type, message), extra)

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _Gone from exc

    def _gone(self, timeout: float) -> bool:
        """Waits up to `timeout`; True as soon as the client has closed the connection."""
        readable, _, _ = select.select([self.connection], [], [], timeout)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self._gone(seconds):
            raise _Gone

    def _wait_release(self) -> None:
        while not self.fake._release.wait(0.02):
            if self._gone(0):
                raise _Gone

    def _authorized(self, request: RecordedRequest) -> bool:
        key = request.headers.get("x-api-key", "")
        accepted = self.fake.accepted_keys
        if not key or (accepted is not None and key not in accepted):
            self._error(401, "authentication_error", "invalid x-api-key")
            return False
        return True

    # --- routes -----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        request = self._read()
        if request.path != "/v1/models":
            self._error(404, "not_found_error", f"Not found: {request.path}")
            return
        if not self._authorized(request):
            return
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"} for m in MODELS]
        self._json(200, {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]})

    def do_POST(self) -> None:
        request = self._read()
        if request.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._error(404, "not_found_error", f"Not found: {request.path}")
            return
        if not self._authorized(request):
            return
        if not request.headers.get("anthropic-version"):
            self._error(400, "invalid_request_error", "anthropic-version: header is required")
            return
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("model"):
            self._error(400, "invalid_request_error", "model: field required")
            return
        if request.path.endswith("/count_tokens"):
            self._json(200, {"input_tokens": self.fake.usage_for(body, "")["input_tokens"]})
            return
        plan = self.fake._next_plan()
        if plan is not None and plan.kind == "error":
            self._error(plan.status, plan.error_type, plan.message)
            return
        self.fake._count("started")
        if body.get("stream"):
            try:
                self._stream(body, plan)
            except _Gone:
                self.fake._count("aborted")
                self.close_connection = True
            return
        text = self.fake.answer_text(body)
        message = _message(body["model"], text, self.fake.usage_for(body, text))
        self._json(200, message)

    def _stream(self, body: dict, plan: _Plan | None) -> None:
        fake = self.fake
        text = fake.answer_text(body)
        usage = fake.usage_for(body, text)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", _id("req_"))
        self.end_headers()
        start = _message(body["model"], "", usage | {"output_tokens": min(1, usage["output_tokens"])})
        self._event("message_start", {"type": "message_start", "message": start})
        if plan is not None and plan.kind == "break":
            self._pause(fake.event_delay)
            self._event("error", error_body(plan.error_type, plan.message))
            self._chunk(b"")
            fake._count("completed")
            return
        events: list[tuple[str, dict]] = [
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for piece in _pieces(text):
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            events.append(("content_block_delta", delta))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        for name, data in events:
            self._pause(fake.event_delay)
            self._event(name, data)
        self._wait_release()
        self._pause(fake.event_delay)
        final = {"output_tokens": usage["output_tokens"]}
        delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": final}
        self._event("message_delta", delta)
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")
        fake._count("completed")

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] or [""]


def _message(model: str, text: str, usage: dict[str, int]) -> dict:
    return {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "end_turn" if text else None,
        "stop_sequence": None,
        "usage": usage,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="A local fake of Anthropic's Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--event-delay", type=float, default=0.0)
    parser.add_argument("--reply", default=None)
    parser.add_argument("--usage", default=None, help='JSON, e.g. {"input_tokens": 100, "output_tokens": 20}')
    args = parser.parse_args()
    fake = AnthropicFake(
        usage=json.loads(args.usage) if args.usage else None, reply=args.reply, event_delay=args.event_delay
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(fake.start(args.port, args.host), flush=True)
    while not stop.wait(0.5):
        pass
    fake.stop()


if __name__ == "__main__":
    main()
