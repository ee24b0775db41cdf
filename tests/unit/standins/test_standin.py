"""The stand-in assistant against an in-memory control plane that speaks the assistant protocol."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.harness.waiting import wait_for_sync
from yourclaw.standins import assistant as standin
from yourclaw.standins.assistant import HEALTHCHECK_CMD, StandinAssistant

pytestmark = pytest.mark.unit

SCRIPT = Path(standin.__file__)


@dataclass
class Poll:
    token: str
    generation: str | None
    instance_id: str | None
    wait: str | None
    at: float = field(default_factory=time.monotonic)
    delivered: list[str] = field(default_factory=list)


class FakeControlPlane:
    """The runtime endpoints in memory: one queue per user (tokens map to users, so a rotated token keeps the
    queue), one message in flight until acked, a lease that expires, the newest poll of a user wins."""

    def __init__(self, *, lease: float = 30.0, hold: float = 25.0) -> None:
        self.lease = lease
        self.hold = hold  # how long an empty poll is held, capped by its `wait`
        self.cond = threading.Condition()
        self.tokens: dict[str, str] = {}
        self.queues: dict[str, deque] = defaultdict(deque)
        self.inflight: dict[str, list] = {}  # user -> [message, lease deadline]
        self.latest_poll: dict[str, int] = {}
        self.polls: list[Poll] = []
        self.events: list[tuple[str, str]] = []  # ("outbound", key) / ("ack", id) / ("extend", id), in order
        self.outbound: dict[str, dict] = {}  # idempotency key -> body, as stored once
        self.outbound_attempts: list[str] = []
        self.poll_statuses: deque[int] = deque()
        self.outbound_statuses: deque[int] = deque()
        self.revoked: set[str] = set()
        self.llm_calls: list[tuple[dict, dict]] = []
        self.ignore_acks = False
        self.closing = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeControlPlane:
        self.thread.start()
        return self

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def add_token(self, token: str, user: str = "user-1") -> None:
        with self.cond:
            self.tokens[token] = user

    def enqueue(self, mid: str, text: str, user: str = "user-1") -> None:
        message = {"id": mid, "from": user, "text": text, "media": [], "received_at": "2026-11-01T00:00:00Z"}
        with self.cond:
            self.queues[user].append(message)
            self.cond.notify_all()

    def replies(self, mid: str) -> list[dict]:
        return [b for b in self.outbound.values() if b.get("in_reply_to") == mid]

    def index(self, event: tuple[str, str]) -> int:
        return self.events.index(event)

    def _expire(self, user: str, now: float) -> None:
        held = self.inflight.get(user)
        if held and held[1] < now:
            del self.inflight[user]
            self.queues[user].appendleft(held[0])

    def _poll(self, token: str, user: str, wait: float, poll: Poll) -> dict | None:
        with self.cond:
            seq = len(self.polls)
            self.latest_poll[user] = seq
            deadline = time.monotonic() + min(wait, self.hold)
            while not self.closing and self.latest_poll[user] == seq:
                now = time.monotonic()
                self._expire(user, now)
                if user not in self.inflight and self.queues[user]:
                    message = self.queues[user].popleft()
                    self.inflight[user] = [message, now + self.lease]
                    poll.delivered.append(message["id"])
                    return {"messages": [message]}
                if now >= deadline:
                    return None
                self.cond.wait(min(deadline - now, 0.05))
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code: int, body: dict | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client cut a held poll; nothing to tell it

            def _user(self) -> tuple[str, str | None]:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with fake.cond:
                    return token, None if token in fake.revoked else fake.tokens.get(token)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path != "/api/v1/runtime/inbound":
                    return self._send(404)
                token, user = self._user()
                query = parse_qs(parts.query)
                poll = Poll(
                    token,
                    self.headers.get("X-Config-Generation"),
                    self.headers.get("X-Instance-Id"),
                    query.get("wait", [None])[0],
                )
                with fake.cond:
                    fake.polls.append(poll)
                    forced = fake.poll_statuses.popleft() if fake.poll_statuses else None
                if forced:
                    return self._send(forced, {"detail": "forced", "code": "forced"})
                if user is None:
                    return self._send(401, {"detail": "unknown token", "code": "unauthorized"})
                body = fake._poll(token, user, float(poll.wait or 0), poll)
                self._send(204) if body is None else self._send(200, body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else None
                if self.path == "/llm/anthropic/v1/messages":
                    fake.llm_calls.append((dict(self.headers), payload))
                    if fake.tokens.get(self.headers.get("x-api-key", "")) is None:
                        return self._send(401, {"type": "error"})
                    text = f"model {payload['model']} says hi to {payload['messages'][0]['content']}"
                    return self._send(200, {"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})
                token, user = self._user()
                if user is None:
                    return self._send(401, {"detail": "unknown token", "code": "unauthorized"})
                path = urlsplit(self.path).path.removeprefix("/api/v1/runtime")
                if path == "/outbound":
                    key = self.headers.get("Idempotency-Key", "")
                    with fake.cond:
                        fake.outbound_attempts.append(key)
                        forced = fake.outbound_statuses.popleft() if fake.outbound_statuses else None
                        if forced is None and key not in fake.outbound:
                            fake.outbound[key] = payload
                            fake.events.append(("outbound", key))
                    return self._send(forced or 202, {"detail": "forced"} if forced else {"status": "queued"})
                segments = path.strip("/").split("/")
                if len(segments) == 3 and segments[0] == "inbound" and segments[2] in ("ack", "extend"):
                    mid, action = segments[1], segments[2]
                    with fake.cond:
                        fake.events.append((action, mid))
                        held = fake.inflight.get(user)
                        if held and held[0]["id"] == mid:
                            if action == "extend":
                                held[1] = time.monotonic() + fake.lease
                            elif not fake.ignore_acks:
                                del fake.inflight[user]
                        fake.cond.notify_all()
                    return self._send(204)
                self._send(404)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def write_config(path: Path, api_url: str, token: str, generation: int, model: str = "anthropic/claude-test") -> None:
    doc = {
        "agents": {"defaults": {"model": {"primary": model}}},
        "channels": {"yourclaw": {"apiUrl": api_url, "token": token, "userId": "user-1", "generation": generation}},
    }
    # Atomic like put_archive's replace, so the watcher never reads half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


@pytest.fixture
def fake() -> Iterator[FakeControlPlane]:
    plane = FakeControlPlane().start()
    plane.add_token("tok-a")
    yield plane
    plane.close()


@pytest.fixture
def config_path(tmp_path: Path, fake: FakeControlPlane) -> Path:
    path = tmp_path / ".openclaw" / "openclaw.json"
    path.parent.mkdir()
    write_config(path, fake.url, "tok-a", 1)
    return path


@pytest.fixture
def make_assistant(config_path: Path) -> Iterator[Callable[..., StandinAssistant]]:
    started: list[StandinAssistant] = []

    def make(**kwargs) -> StandinAssistant:
        kwargs.setdefault("health_port", None)
        assistant = StandinAssistant(config_path, **kwargs)
        assistant.start()
        started.append(assistant)
        return assistant

    yield make
    for assistant in started:
        assistant.stop()


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_polls_with_protocol_headers_then_replies_before_acking(fake, make_assistant):
    assistant = make_assistant(instance_id="abc123")
    poll = wait_for_sync(lambda: fake.polls and fake.polls[0], message="first poll")
    assert (poll.token, poll.generation, poll.instance_id, poll.wait) == ("tok-a", "1", "abc123", "25")

    fake.enqueue("m1", "hello there")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    assert fake.outbound["m1:0"] == {"kind": "reply", "text": "echo: hello there", "in_reply_to": "m1"}
    assert fake.index(("outbound", "m1:0")) < fake.index(("ack", "m1"))
    assert assistant.handled == ["m1"]
    assert json.loads((assistant.config_path.parent / "yourclaw-finished.json").read_text()) == ["m1"]


def test_default_instance_id_is_hostname_then_random_hex_per_start(fake, make_assistant):
    import re
    import socket

    first, second = make_assistant(), make_assistant()
    assert first.instance_id != second.instance_id
    assert first.instance_id.startswith(socket.gethostname()[:40] + "-")
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", first.instance_id)
    int(first.instance_id.rsplit("-", 1)[1], 16)


def test_config_rewrite_cuts_the_held_poll_and_polls_with_the_new_token(fake, make_assistant, config_path):
    assistant = make_assistant()
    wait_for_sync(lambda: fake.polls, message="first poll")
    assert fake.hold == 25.0  # the poll is being held open, as a quiet control plane does
    fake.add_token("tok-b")

    rewritten = time.monotonic()
    write_config(config_path, fake.url, "tok-b", 2)
    poll = wait_for_sync(lambda: next((p for p in fake.polls if p.token == "tok-b"), None), message="poll with tok-b")
    assert poll.generation == "2"
    assert poll.at - rewritten < 2.0
    assert [p.token for p in fake.polls] == ["tok-a", "tok-b"]

    fake.enqueue("m1", "after rotation")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    assert assistant.readiness() == (True, {"ready": True, "generation": 2, "model": "anthropic/claude-test"})


def test_invalid_config_keeps_the_last_good_one(fake, make_assistant, config_path, capsys):
    assistant = make_assistant()
    wait_for_sync(lambda: fake.polls, message="first poll")
    config_path.write_text("{not json")
    err = ""

    def logged() -> bool:
        nonlocal err
        err += capsys.readouterr().err
        return "config invalid" in err

    wait_for_sync(logged, message="invalid config logged")
    assert assistant.config is not None and assistant.config.token == "tok-a"
    fake.enqueue("m1", "still here")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    assert "tok-a" not in err


def test_redelivered_finished_message_is_acked_without_a_second_reply(fake, make_assistant):
    fake.lease = 1.0
    fake.ignore_acks = True  # the ack is lost, as if the control plane died before storing it
    first = make_assistant()
    fake.enqueue("m1", "once only")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="first ack")
    first.stop()
    fake.ignore_acks = False

    second = make_assistant()
    wait_for_sync(
        lambda: any("m1" in p.delivered for p in fake.polls if p.instance_id == second.instance_id),
        message="redelivery to the restarted assistant",
    )
    wait_for_sync(lambda: "user-1" not in fake.inflight, message="redelivered m1 acked")
    assert first.handled == ["m1"] and second.handled == []
    assert fake.events.count(("ack", "m1")) >= 2
    assert fake.outbound_attempts == ["m1:0"]


def test_proactive_message_follows_the_reply_and_ack(fake, make_assistant):
    make_assistant()
    fake.enqueue("m1", "proactive 1 wake up")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    acked = time.monotonic()
    assert fake.outbound["m1:0"]["text"] == "ok, in 1s"
    wait_for_sync(lambda: "proactive:m1" in fake.outbound, message="proactive message")
    assert fake.outbound["proactive:m1"] == {"kind": "proactive", "text": "wake up"}
    assert fake.index(("outbound", "m1:0")) < fake.index(("ack", "m1")) < fake.index(("outbound", "proactive:m1"))
    assert time.monotonic() - acked > 0.5


def test_parts_and_slow_turns(fake, make_assistant):
    make_assistant(extend_interval=0.1)
    fake.enqueue("m1", "parts 3")
    fake.enqueue("m2", "slow 0.6")
    wait_for_sync(lambda: ("ack", "m2") in fake.events, message="ack of m2")
    assert [k for kind, k in fake.events if kind == "outbound"] == ["m1:0", "m1:1", "m1:2", "m2:0"]
    assert fake.outbound["m1:2"]["text"] == "part 3 of 3"
    extends = [i for i, e in enumerate(fake.events) if e == ("extend", "m2")]
    assert len(extends) >= 2
    # The lease is renewed while the turn runs, never once it is given back.
    assert max(extends) < fake.index(("ack", "m2"))


def test_outbound_5xx_and_429_are_retried_with_the_same_key(fake, make_assistant):
    fake.outbound_statuses.extend([500, 429, 503])
    make_assistant()
    fake.enqueue("m1", "retry me")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, timeout=8, message="ack of m1")
    assert fake.outbound_attempts == ["m1:0"] * 4
    assert fake.index(("outbound", "m1:0")) < fake.index(("ack", "m1"))


def test_outbound_4xx_is_not_retried(fake, make_assistant):
    fake.outbound_statuses.append(422)
    make_assistant()
    fake.enqueue("m1", "refused")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    assert fake.outbound_attempts == ["m1:0"]


def test_poll_errors_back_off_and_a_new_config_ends_the_backoff(fake, make_assistant, config_path, capsys):
    fake.revoked.add("tok-a")
    assistant = make_assistant()
    wait_for_sync(lambda: len(fake.polls) >= 2, message="retry after 401")
    assert fake.polls[1].at - fake.polls[0].at >= 0.9
    assert "token rejected" in capsys.readouterr().err
    assert assistant.readiness() == (False, {"ready": False, "reason": "token rejected"})

    fake.add_token("tok-b")
    fake.poll_statuses.extend([409, 500])
    rewritten = time.monotonic()
    write_config(config_path, fake.url, "tok-b", 2)  # lands during the 2 s backoff
    poll = wait_for_sync(lambda: next((p for p in fake.polls if p.token == "tok-b"), None), message="poll with tok-b")
    assert poll.at - rewritten < 1.5

    fake.enqueue("m1", "after a conflict and an outage")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, timeout=8, message="ack after 409 and 500")
    tok_b = [p for p in fake.polls if p.token == "tok-b"]
    assert len(tok_b) >= 3 and tok_b[2].delivered == ["m1"]
    assert tok_b[1].at - tok_b[0].at >= 0.9
    assert assistant.ready


def test_llm_answers_through_the_proxy_only_when_enabled(fake, make_assistant, monkeypatch):
    make_assistant()
    fake.enqueue("m1", "plain")
    wait_for_sync(lambda: ("ack", "m1") in fake.events, message="ack of m1")
    assert fake.outbound["m1:0"]["text"] == "echo: plain" and fake.llm_calls == []

    monkeypatch.setenv("STANDIN_LLM", "1")
    fake.enqueue("m2", "Ada")
    wait_for_sync(lambda: ("ack", "m2") in fake.events, message="ack of m2")
    assert fake.outbound["m2:0"]["text"] == "model claude-test says hi to Ada"
    [(headers, body)] = fake.llm_calls
    assert headers["x-api-key"] == "tok-a" and headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert body["model"] == "claude-test" and body["messages"] == [{"role": "user", "content": "Ada"}]
    assert not body.get("stream")


def test_readyz_goes_from_503_to_200_and_the_healthcheck_follows(fake, tmp_path):
    fake.hold = 0.3  # a quick 204 makes the assistant ready
    path = tmp_path / ".openclaw" / "openclaw.json"
    path.parent.mkdir()
    assistant = StandinAssistant(path, health_port=0)
    assistant.start()
    try:
        base = f"http://127.0.0.1:{assistant.health_port}"
        env = {**os.environ, "STANDIN_HEALTH_PORT": str(assistant.health_port)}
        assert get_json(base + "/healthz") == (200, {"ok": True})
        assert get_json(base + "/readyz") == (503, {"ready": False, "reason": "no config"})
        assert subprocess.run([sys.executable, *HEALTHCHECK_CMD[1:]], env=env, timeout=10).returncode == 1

        write_config(path, fake.url, "tok-a", 7)
        wait_for_sync(lambda: get_json(base + "/readyz")[0] == 200, message="ready")
        assert get_json(base + "/readyz") == (200, {"ready": True, "generation": 7, "model": "anthropic/claude-test"})
        assert subprocess.run([sys.executable, *HEALTHCHECK_CMD[1:]], env=env, timeout=10).returncode == 0
    finally:
        assistant.stop()


def test_stop_returns_promptly_during_a_held_poll_and_a_long_turn(fake, make_assistant):
    assistant = make_assistant()
    wait_for_sync(lambda: fake.polls, message="first poll")
    fake.enqueue("m1", "slow 30")
    wait_for_sync(lambda: fake.polls[0].delivered, message="slow turn started")
    started = time.monotonic()
    assistant.stop()
    assert time.monotonic() - started < 1.5
    assert not any(t.is_alive() for t in assistant._threads)
    assert ("ack", "m1") not in fake.events and assistant.handled == []


def test_runs_as_a_standalone_script_and_exits_0_on_sigterm(fake, config_path):
    fake.hold = 0.3
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(config_path.parent.parent),
        "STANDIN_HEALTH_PORT": str(port),
    }
    # -I -S: no site-packages and no script directory on sys.path, so any import from our package would fail.
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        fake.enqueue("m1", "from a script")
        wait_for_sync(lambda: ("ack", "m1") in fake.events, timeout=10, message="ack from the script")
        assert fake.outbound["m1:0"]["text"] == "echo: from a script"
        wait_for_sync(lambda: get_json(f"http://127.0.0.1:{port}/readyz")[0] == 200, message="script ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=3) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    lines = [json.loads(line) for line in err.splitlines()]
    assert {"started", "config loaded", "acked", "stopped"} <= {line["event"] for line in lines}
    assert "tok-a" not in err
