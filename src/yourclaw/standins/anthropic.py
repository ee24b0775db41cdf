"""A local stand-in for the part of Anthropic's API the metering proxy forwards: `POST /v1/messages`
(streaming SSE and plain JSON), `POST /v1/messages/count_tokens` and `GET /v1/models`.

It answers in Anthropic's shapes (the event sequence message_start, content_block_*, message_delta,
message_stop; errors as `{"type": "error", "error": {...}}`), checks `x-api-key` and `anthropic-version` as
Anthropic does, and records every request with its headers and body. Tests set the usage it reports, a
delay between events, failures (500, 529 overloaded, an error event mid-stream), and can hold a stream
before its last events until released; it counts streams whose client went away before the end. A test can
script the model (`script`): per request, a text answer or a call of one of the caller's tools.

With no reply set it answers "(stand-in model) You said: ..." and estimates usage from the text, which is
what `yourclaw dev` runs in-process when no ANTHROPIC_API_KEY is set (see `llm/proxy.py`). It serves with
aiohttp on an event loop of its own, in a thread (tests, `yourclaw dev`) or as the main loop of
`python -m yourclaw.standins.anthropic --port N` (the bench): a thread per connection, as Python's own
HTTP server has, made dozens of concurrent streams queue on the GIL, and the stand-in then measured itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from yourclaw.standins.anthropic_wire import (
    ClientGone,
    EventStream,
    Plan,
    ToolCall,
    error_answer,
    json_answer,
    last_user_text,
    message_body,
)

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
class AnthropicStandin:
    # None: estimated from the text (the dev stand-in); else reported as given (Anthropic's field names).
    usage: dict[str, int] | None = None
    # None: echo the last user message after STANDIN_PREFIX.
    reply: str | None = None
    # Seconds between stream events (the first event goes out at once).
    event_delay: float = 0.0
    # None: any non-empty x-api-key is accepted.
    accepted_keys: set[str] | None = None
    # A test's model: the answer to a request body (text, or a call of one of its tools), None to answer
    # as `reply` says.
    script: Callable[[dict], str | ToolCall | None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: deque[Plan] = deque()
        self._requests: list[RecordedRequest] = []
        self._release = threading.Event()
        self._release.set()
        self.started = 0  # message calls answered 200, streaming or not
        self.completed = 0  # streams sent to their end
        self.aborted = 0  # streams whose client went away before the end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # --- life -------------------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serves on a thread of its own until `stop`."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="Anthropic stand-in", daemon=True)
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.serve(port, host), self._loop).result(10)

    def stop(self) -> None:
        self._release.set()
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    async def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serves on the running loop until `close`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._messages)
        app.router.add_route("*", "/{path:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=256)
        await site.start()
        bound = self._runner.addresses[0]
        self._url = f"http://{bound[0]}:{bound[1]}"
        return self._url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    @property
    def base_url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Anthropic standin is not running")
        return self._url

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
        plan = Plan("error", status, kind, message or _DEFAULT_MESSAGES.get(kind, "error"))
        with self._lock:
            self._plans.extend([plan] * count)

    def break_next_stream(self, error_type: str = "overloaded_error") -> None:
        """The next stream sends message_start, then an error event, and ends."""
        with self._lock:
            self._plans.append(Plan("break", 200, error_type, _DEFAULT_MESSAGES.get(error_type, "error")))

    def hold(self) -> None:
        """Streams stop before their last events (message_delta, message_stop), and plain answers before
        they are sent, until `release()`."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    # --- the answer -------------------------------------------------------------------------------

    def _next_plan(self) -> Plan | None:
        with self._lock:
            return self._plans.popleft() if self._plans else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def answer(self, body: dict) -> str | ToolCall:
        scripted = self.script(body) if self.script is not None else None
        return scripted if scripted is not None else self.answer_text(body)

    def answer_text(self, body: dict) -> str:
        if self.reply is not None:
            return self.reply
        return STANDIN_PREFIX + (last_user_text(body) or "(nothing)")

    def usage_for(self, body: dict, text: str) -> dict[str, int]:
        if self.usage is not None:
            return {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            } | dict(self.usage)
        # Roughly four characters a token, as Anthropic's rule of thumb; never more output than asked for.
        prompt = json.dumps(body.get("messages", []))
        limit = body.get("max_tokens")
        output = max(1, len(text) // 4)
        return {
            "input_tokens": max(1, len(prompt) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": min(output, limit) if isinstance(limit, int) and limit > 0 else output,
        }

    # --- the routes ---------------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> RecordedRequest:
        recorded = RecordedRequest(
            request.method,
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            await request.read(),
        )
        self._record(recorded)
        return recorded

    def _unauthorized(self, request: RecordedRequest) -> web.Response | None:
        key = request.headers.get("x-api-key", "")
        if not key or (self.accepted_keys is not None and key not in self.accepted_keys):
            return error_answer(401, "authentication_error", "invalid x-api-key")
        return None

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._read(request)
        return error_answer(404, "not_found_error", f"Not found: {request.path}")

    async def _models(self, request: web.Request) -> web.Response:
        recorded = await self._read(request)
        refused = self._unauthorized(recorded)
        if refused is not None:
            return refused
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"} for m in MODELS]
        return json_answer(200, {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._read(request)
        refused = self._unauthorized(recorded)
        if refused is not None:
            return refused
        if not recorded.headers.get("anthropic-version"):
            return error_answer(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            body = recorded.json()
        except (ValueError, RecursionError):  # as Anthropic answers malformed JSON: a 400, not a crash
            body = None
        if not isinstance(body, dict) or not body.get("model"):
            return error_answer(400, "invalid_request_error", "model: field required")
        if recorded.path.endswith("/count_tokens"):
            return json_answer(200, {"input_tokens": self.usage_for(body, "")["input_tokens"]})
        plan = self._next_plan()
        if plan is not None and plan.kind == "error":
            return error_answer(plan.status, plan.error_type, plan.message)
        self._count("started")
        if not body.get("stream"):
            # A plain answer is generated whole before it is sent, whether or not its client is still there.
            if not self._release.is_set():
                await asyncio.to_thread(self._release.wait)
            answer = self.answer(body)
            text = answer if isinstance(answer, str) else json.dumps(answer.input)
            return json_answer(200, message_body(body["model"], answer, self.usage_for(body, text)))
        stream = EventStream(request, self)
        try:
            await stream.send(body, plan)
        except ClientGone:
            self._count("aborted")
        return stream.response


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in of Anthropic's Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--event-delay", type=float, default=0.0)
    parser.add_argument("--reply", default=None)
    parser.add_argument("--usage", default=None, help='JSON, e.g. {"input_tokens": 100, "output_tokens": 20}')
    args = parser.parse_args()
    standin = AnthropicStandin(
        usage=json.loads(args.usage) if args.usage else None, reply=args.reply, event_delay=args.event_delay
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(await standin.serve(args.port, args.host), flush=True)
        try:
            await stop.wait()
        finally:
            standin._release.set()
            await standin.close()

    import uvloop

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())


if __name__ == "__main__":
    main()
