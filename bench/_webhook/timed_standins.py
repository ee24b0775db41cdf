"""The stand-ins part 2 times: the product's Twilio stand-in, noting when each send reaches it, and the busy
assistant, a StandinAssistant that prints when a poll answer is read and when each POST is answered; and the
events they report, waited for from asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable

import httpx

from yourclaw.standins.twilio import TwilioStandin


class TimedTwilio(TwilioStandin):
    """The product's Twilio stand-in, noting when each send reaches it (before it answers). Its signed status
    callbacks go through one kept-alive client: `httpx.post` builds a client, TLS context included, per call,
    which cost this process tens of milliseconds of CPU per callback and so took CPU from what is measured."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.received: list[tuple[float, str, str, int]] = []
        self.on_send: Callable[[], None] | None = None
        self._http = httpx.Client(timeout=10.0)

    def post_signed(self, url: str, params: dict[str, str]) -> httpx.Response:
        return self._http.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)})

    def stop(self) -> None:
        super().stop()
        if self._http is not None:
            self._http.close()

    def _create(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        arrived = time.time()
        status, payload = super()._create(form)
        self.received.append((arrived, form.get("To", [""])[0], form.get("Body", [""])[0], status))
        if self.on_send is not None:
            self.on_send()
        return status, payload

    def sent_at(self, body: str) -> float | None:
        """When the last accepted send with this body arrived."""
        for arrived, _to, text, status in reversed(self.received):
            if text == body and status == 201:
                return arrived
        return None


# Runs the product's StandinAssistant in a process of its own, adding one JSON line on stdout with a time
# stamp at the three moments measured: the poll's answer read (the batch in its hands), each POST answered
# (outbound reply, ack). The stand-in's own log lines stay on stderr.
BUSY_STANDIN = r"""
import importlib.util, json, signal, sys, threading, time
spec = importlib.util.spec_from_file_location("standin", sys.argv[1])
standin = importlib.util.module_from_spec(spec)
sys.modules["standin"] = standin  # dataclasses look their module up there
spec.loader.exec_module(standin)
out_lock = threading.Lock()

def emit(**event):
    with out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

class Timed(standin.StandinAssistant):
    def _handle_batch(self, body):
        t = time.time()
        try:
            for m in json.loads(body)["messages"]:
                emit(e="handed", id=m["id"], text=m.get("text"), t=t)
        except (ValueError, KeyError, TypeError):
            pass
        super()._handle_batch(body)

    def _post(self, path, body, headers):
        status = super()._post(path, body, headers)
        t = time.time()
        if path.endswith("/outbound"):
            emit(e="replied", key=headers.get("Idempotency-Key"), status=status, t=t)
        elif path.endswith("/ack"):
            emit(e="acked", id=path.split("/")[-2], status=status, t=t)
        return status

stopping = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: stopping.set())
assistant = Timed(sys.argv[2], health_port=None, instance_id=sys.argv[3], poll_wait=int(sys.argv[4]))
assistant.start()
while not stopping.wait(0.5):
    pass
assistant.stop()
"""


class Events:
    """Time-stamped events from the busy stand-in and the Twilio stand-in, waited for from asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.changed = asyncio.Event()
        self.handed: dict[str, tuple[str, float]] = {}  # text -> (message id, t)
        self.replied: dict[str, tuple[int | None, float]] = {}  # message id -> (status, t)
        self.acked: dict[str, tuple[int | None, float]] = {}
        self.sent: dict[str, float] = {}  # body at Twilio -> t
        self.other: list[dict] = []

    def bump(self) -> None:
        self.loop.call_soon_threadsafe(self.changed.set)

    def on_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("e")
        if kind == "handed":
            self.handed[event.get("text") or ""] = (event["id"], event["t"])
        elif kind == "replied":
            self.replied[(event.get("key") or "").split(":")[0]] = (event.get("status"), event["t"])
        elif kind == "acked":
            self.acked[event["id"]] = (event.get("status"), event["t"])
        else:
            self.other.append(event)
        self.bump()

    async def until(self, check: Callable[[], object], timeout: float, what: str):
        deadline = self.loop.time() + timeout
        while True:
            self.changed.clear()
            found = check()
            if found:
                return found
            left = deadline - self.loop.time()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


def read_lines(stream, handle: Callable[[str], None]) -> threading.Thread:
    def run() -> None:
        for raw in iter(stream.readline, b""):
            handle(raw.decode(errors="replace"))

    thread = threading.Thread(target=run, name="busy-standin-events", daemon=True)
    thread.start()
    return thread
