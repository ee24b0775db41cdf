"""A stand-in for the OpenClaw image: speaks the assistant protocol exactly as the `yourclaw` channel plugin does.

It runs as `python3 /app/standin.py` in a test image (Debian's python3 only, read-only root filesystem) and in a
thread inside the stand-in runtime, so it must stay importable and use the standard library alone.

Behaviour driven by message text: `proactive <N> <words>` (reply now, proactive message after N s), `remind <N>
<words>` (the same, reported as a reminder set up, as the plugin reports OpenClaw's jobs), `slow <N>` (a turn of
N s, lease extended meanwhile), `parts <N>` (N replies); anything else is echoed, or answered through the metering
LLM proxy when `STANDIN_LLM=1` and the model is an `anthropic/...` one.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HEALTH_PORT = 18789
POLL_WAIT = 25
FINISHED_FILE = "yourclaw-finished.json"
FINISHED_KEEP = 1000
WATCH_INTERVAL = 0.5
EXTEND_INTERVAL = 10.0

# Exec form for Docker's HEALTHCHECK ["CMD", ...]: urlopen raises on the 503, so only a JSON `ready: true` exits 0.
HEALTHCHECK_CMD = [
    "python3",
    "-c",
    "import json,os,sys,urllib.request as u\n"
    "try:\n"
    " r=u.urlopen('http://127.0.0.1:%s/readyz'%os.environ.get('STANDIN_HEALTH_PORT','18789'),timeout=3)\n"
    " sys.exit(0 if json.load(r).get('ready') is True else 1)\n"
    "except Exception:\n"
    " sys.exit(1)\n",
]

_log_lock = threading.Lock()


def log(event: str, **fields: object) -> None:
    line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


@dataclass(frozen=True)
class Config:
    api_url: str
    token: str
    user_id: str
    generation: int
    model: str | None

    @property
    def channel_key(self) -> tuple[str, str, str, int]:
        # Only channels.yourclaw restarts the channel; a model change alone must not cut the poll.
        return (self.api_url, self.token, self.user_id, self.generation)


def parse_config(raw: bytes) -> Config:
    doc = json.loads(raw)
    channel = doc["channels"]["yourclaw"]
    api_url, token, user_id, generation = (channel[k] for k in ("apiUrl", "token", "userId", "generation"))
    if not (isinstance(api_url, str) and urlsplit(api_url).scheme in ("http", "https")):
        raise ValueError("apiUrl must be an http(s) URL")
    if not (isinstance(token, str) and token and isinstance(user_id, str) and user_id):
        raise ValueError("token and userId must be non-empty strings")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise ValueError("generation must be an integer")
    model = (((doc.get("agents") or {}).get("defaults") or {}).get("model") or {}).get("primary")
    return Config(api_url.rstrip("/"), token, user_id, generation, model if isinstance(model, str) else None)


def default_config_path() -> Path:
    home = Path(os.environ.get("HOME") or "/home/node")
    return Path(os.environ.get("OPENCLAW_CONFIG_PATH") or home / ".openclaw" / "openclaw.json")


class Aborted(Exception):
    """The in-flight request was cut on purpose (config change or stop)."""


def ask_llm(cfg: Config, text: str, send) -> str:
    """One non-streaming call through the control plane's metering proxy, as OpenClaw's anthropic provider
    makes it with `baseUrl = {apiUrl}/llm/anthropic` and the assistant token as its key. Off unless
    STANDIN_LLM=1, so tests that do not ask for it never spend credits."""
    body = {
        "model": (cfg.model or "").removeprefix("anthropic/"),
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
    }
    headers = {"x-api-key": cfg.token, "anthropic-version": "2023-06-01"}
    status, raw = send("POST", "/llm/anthropic/v1/messages", body, headers, auth=False, timeout=120)
    if status != 200:
        raise RuntimeError(f"LLM proxy answered {status}")
    blocks = json.loads(raw).get("content") or []
    return "".join(b.get("text", "") for b in blocks if b.get("type") == "text") or "(empty answer)"


class StandinAssistant:
    """One assistant: a config watcher, a poll loop that runs each turn to its end before acking, and an
    optional health server, all on daemon threads. `handled` lists the ids of turns it ran (tests read it)."""

    def __init__(
        self,
        config_path: Path,
        *,
        health_port: int | None = DEFAULT_HEALTH_PORT,
        instance_id: str | None = None,
        poll_wait: int = POLL_WAIT,
        extend_interval: float = EXTEND_INTERVAL,
    ) -> None:
        self.config_path = Path(config_path)
        # The hostname prefix tells the control plane which container polls (Docker sets it to the
        # container's short id); the random part changes on every start.
        self.instance_id = instance_id or f"{socket.gethostname()[:40]}-{secrets.token_hex(8)}"
        self.handled: list[str] = []
        self._poll_wait, self._extend_interval, self._health_port = poll_wait, extend_interval, health_port
        self._health: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()  # the watcher and the poll loop (after a 401) both re-read
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts a backoff short when the config changes, and on stop
        self._config: Config | None = None
        self._signature: tuple | None = None
        self._ready_key: tuple | None = None
        self._not_ready = "no config"
        self._poll_conn: http.client.HTTPConnection | None = None
        self._conns: set[http.client.HTTPConnection] = set()
        self._timers: set[threading.Timer] = set()
        self._automations: dict[str, dict] = {}  # the reminders `remind` set up and not yet gone off
        self._threads: list[threading.Thread] = []
        self._finished: list[str] = self._load_finished()

    def start(self) -> None:
        self._check_config()
        if self._health_port is not None:
            self._health = ThreadingHTTPServer(("127.0.0.1", self._health_port), _health_handler(self))
            self._spawn(self._health.serve_forever, "health", 0.2)
        self._spawn(self._watch, "watch")
        self._spawn(self._poll_loop, "poll")
        log("started", instance_id=self.instance_id, config=str(self.config_path))

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            conns, timers = list(self._conns), list(self._timers)
        for conn in conns:
            _abort(conn)
        for timer in timers:
            timer.cancel()
        if self._health is not None:
            self._health.shutdown()
            self._health.server_close()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        log("stopped", instance_id=self.instance_id)

    @property
    def health_port(self) -> int | None:
        return self._health.server_address[1] if self._health else None

    @property
    def config(self) -> Config | None:
        return self._config

    @property
    def ready(self) -> bool:
        cfg = self._config
        return cfg is not None and self._ready_key == cfg.channel_key

    def readiness(self) -> tuple[bool, dict]:
        cfg = self._config
        if cfg is not None and self.ready:
            return True, {"ready": True, "generation": cfg.generation, "model": cfg.model}
        return False, {"ready": False, "reason": self._not_ready if cfg else "no config"}

    def _spawn(self, target, name: str, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=f"standin-{name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            self._check_config()

    def _check_config(self) -> None:
        with self._check_lock:
            try:
                stat, raw = self.config_path.stat(), self.config_path.read_bytes()
            except OSError:
                return  # not written yet (the control plane puts it there after create), or mid-replace
            signature = (stat.st_mtime_ns, stat.st_size, hashlib.sha256(raw).hexdigest())
            if signature == self._signature:
                return
            self._signature = signature
            try:
                new = parse_config(raw)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log("config invalid, keeping the last good one", error=f"{type(exc).__name__}: {exc}")
                return
            with self._lock:
                old, self._config = self._config, new
                channel_changed = old is None or old.channel_key != new.channel_key
                conn = self._poll_conn if channel_changed else None
            if not channel_changed:
                if old != new:
                    log("model changed", model=new.model)
                return
            log("config loaded", generation=new.generation, user_id=new.user_id, model=new.model)
            self._not_ready = "waiting for the first poll"
            self._wake.set()
            if conn is not None:
                _abort(conn)

    def _poll_loop(self) -> None:
        failures, last_key = 0, None
        while not self._stop.is_set():
            self._wake.clear()
            cfg = self._config
            if cfg is None:
                self._wake.wait(WATCH_INTERVAL)
                continue
            if cfg.channel_key != last_key:
                failures, last_key = 0, cfg.channel_key
            headers = {"X-Config-Generation": str(cfg.generation), "X-Instance-Id": self.instance_id}
            path = f"/api/v1/runtime/inbound?wait={self._poll_wait}"
            try:
                status, body = self._send("GET", path, None, headers, cfg=cfg, timeout=self._poll_wait + 10)
            except (Aborted, OSError, http.client.HTTPException) as exc:
                if self._stop.is_set() or self._config is not cfg:
                    continue  # cut on purpose: poll again at once with the new config
                failures += 1
                if not self.ready:
                    self._not_ready = "control plane unreachable"
                self._backoff(failures, True, "poll failed", error=type(exc).__name__)
                continue
            if status in (200, 204):
                failures = 0
                if self._config is cfg:
                    self._ready_key = cfg.channel_key
                if status == 200:
                    self._handle_batch(body)
                continue
            failures += 1
            if status == 401:
                self._ready_key, self._not_ready = None, "token rejected"
                self._check_config()
                self._backoff(failures, False, "token rejected", generation=cfg.generation)
            elif status == 409:
                self._ready_key, self._not_ready = None, "another instance holds the token"
                self._backoff(failures, False, "another instance holds the token")
            else:
                self._backoff(failures, status >= 500 or status == 429, "poll failed", status=status)

    def _backoff(self, failures: int, jitter: bool, event: str, **fields) -> None:
        delay = min(30.0, 2.0 ** (failures - 1)) * (random.uniform(0.5, 1.0) if jitter else 1.0)
        log(event, retry_in=round(delay, 2), **fields)
        self._wake.wait(delay)

    def _handle_batch(self, body: bytes) -> None:
        try:
            messages = json.loads(body)["messages"]
        except (ValueError, KeyError, TypeError):
            log("bad inbound body")
            return
        for message in messages:
            if not isinstance(message, dict) or not message.get("id"):
                log("inbound message without an id, skipped")
                continue
            mid = str(message["id"])
            if mid in self._finished:
                log("redelivered finished message, acking", message_id=mid)
            else:
                done = threading.Event()
                extender = self._spawn(self._extend_while, f"extend-{mid}", mid, done)
                try:
                    finished = self._respond(mid, str(message.get("text") or ""))
                finally:
                    done.set()
                    # An extend still on its way would land after the ack, for a lease already given back.
                    extender.join()
                if not finished:
                    return  # stopped mid-turn: no ack, the lease runs out and the message comes back
                self._remember(mid)
                self.handled.append(mid)
            log("acked", message_id=mid, status=self._post(f"/api/v1/runtime/inbound/{mid}/ack", None, {}))

    def _extend_while(self, mid: str, done: threading.Event) -> None:
        while not done.wait(self._extend_interval) and not self._stop.is_set():
            try:
                status, _ = self._send("POST", f"/api/v1/runtime/inbound/{mid}/extend")
                log("lease extended", message_id=mid, status=status)
            except Aborted:
                return
            except (OSError, http.client.HTTPException) as exc:
                log("extend failed", message_id=mid, error=type(exc).__name__)  # the next one may get through

    def _respond(self, mid: str, text: str) -> bool:
        words = text.split()
        command, number = (words[0].lower() if words else ""), _number(words[1] if len(words) > 1 else "")
        cfg = self._config
        if command == "proactive" and number is not None:
            self._reply(mid, 0, f"ok, in {words[1]}s")
            self._later(number, mid, " ".join(words[2:]))
        elif command == "slow" and number is not None:
            if self._stop.wait(number):
                return False
            self._reply(mid, 0, f"done after {words[1]}s")
        elif command == "remind" and number is not None:
            what = " ".join(words[2:]) or "your reminder"
            self._reply(mid, 0, f"ok, I will remind you in {words[1]}s: {what}")
            self._remind(mid, number, what)
        elif command == "parts" and number is not None:
            for part in range(int(number)):
                self._reply(mid, part, f"part {part + 1} of {int(number)}")
        elif os.environ.get("STANDIN_LLM") == "1" and cfg and (cfg.model or "").startswith("anthropic/"):
            try:
                answer = ask_llm(cfg, text, self._send)
            except (OSError, http.client.HTTPException, RuntimeError, ValueError, Aborted) as exc:
                log("llm call failed", message_id=mid, error=str(exc))
                answer = "sorry, the model is not available right now"
            self._reply(mid, 0, answer)
        else:
            self._reply(mid, 0, f"echo: {text}")
        return not self._stop.is_set()

    def _reply(self, mid: str, part: int, text: str) -> None:
        payload = {"kind": "reply", "text": text, "in_reply_to": mid}
        self._post("/api/v1/runtime/outbound", payload, {"Idempotency-Key": f"{mid}:{part}"})

    def _later(self, seconds: float, mid: str, text: str, then=None) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            payload = {"kind": "proactive", "text": text}
            self._post("/api/v1/runtime/outbound", payload, {"Idempotency-Key": f"proactive:{mid}"})
            if then is not None:
                then()

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _remind(self, mid: str, seconds: float, what: str) -> None:
        """A one-time reminder, reported as the plugin reports OpenClaw's jobs (the whole list, before and after
        it goes off), so the dashboard's recent activity shows it."""
        due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        automation = {"id": f"remind-{mid}", "name": what, "kind": "one_time", "next_run_at": due, "enabled": True}
        with self._lock:
            self._automations[automation["id"]] = automation
        self._report_automations()

        def done() -> None:
            with self._lock:
                self._automations.pop(automation["id"], None)
            self._report_automations()

        self._later(seconds, mid, f"Reminder: {what}", then=done)

    def _report_automations(self) -> None:
        with self._lock:
            automations = list(self._automations.values())
        self._post("/api/v1/runtime/automations", {"automations": automations}, {}, method="PUT")

    def _send(self, method, path, body=None, headers=None, *, cfg=None, auth=True, timeout=15.0):
        cfg = cfg or self._config
        parts = urlsplit(cfg.api_url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        hdrs = {"Authorization": f"Bearer {cfg.token}"} if auth else {}
        hdrs.update(headers or {})
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        poll = method == "GET"
        try:
            conn.connect()
            # Registered under the lock the watcher swaps configs with: either this sees the new config, or the
            # watcher sees this connection and cuts it, so a rewrite never waits out a 25 s poll.
            with self._lock:
                if self._stop.is_set() or (poll and self._config is not cfg):
                    raise Aborted()
                self._conns.add(conn)
                if poll:
                    self._poll_conn = conn
            conn.request(method, parts.path.rstrip("/") + path, body=data, headers=hdrs)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            with self._lock:
                self._conns.discard(conn)
                if self._poll_conn is conn:
                    self._poll_conn = None
            conn.close()

    def _post(self, path: str, body: dict | None, headers: dict, method: str = "POST") -> int | None:
        """Retries 5xx/429/connection errors with the same headers, so the same Idempotency-Key; the token is
        re-read per attempt so a rotation mid-retry uses the new one. OpenClaw dead-letters a failed send, so
        the retrying has to happen here."""
        delay = 0.25
        while not self._stop.is_set():
            try:
                status, _ = self._send(method, path, body, headers)
                if status < 500 and status != 429:
                    if status >= 400:
                        log("request refused", path=path, status=status)
                    return status
                error: object = status
            except Aborted:
                return None
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
            log("request failed, retrying", path=path, error=error, key=headers.get("Idempotency-Key"))
            if self._stop.wait(delay * random.uniform(0.5, 1.0)):
                return None
            delay = min(delay * 2, 10.0)
        return None

    def _load_finished(self) -> list[str]:
        try:
            ids = json.loads((self.config_path.parent / FINISHED_FILE).read_text())
            return [str(i) for i in ids][-FINISHED_KEEP:] if isinstance(ids, list) else []
        except (OSError, ValueError):
            return []

    def _remember(self, mid: str) -> None:
        # Saved before the ack, atomically: a crash between the two means a redelivery we ack unhandled.
        self._finished = (self._finished + [mid])[-FINISHED_KEEP:]
        tmp = self.config_path.parent / f".{FINISHED_FILE}.{os.getpid()}"
        try:
            tmp.write_text(json.dumps(self._finished))
            os.replace(tmp, self.config_path.parent / FINISHED_FILE)
        except OSError as exc:
            log("could not save finished ids", error=str(exc))


def _number(word: str) -> float | None:
    try:
        value = float(word)
    except ValueError:
        return None
    return value if 0 <= value < 86400 else None


def _abort(conn: http.client.HTTPConnection) -> None:
    # shutdown(), unlike close(), wakes a thread blocked in recv() on the same socket.
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _health_handler(assistant: StandinAssistant) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                code, body = 200, {"ok": True}
            elif path == "/readyz":
                ready, body = assistant.readiness()
                code = 200 if ready else 503
            else:
                code, body = 404, {"detail": "not found"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the healthcheck hits this every few seconds; not worth a log line

    return Handler


def main() -> int:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    port = int(os.environ.get("STANDIN_HEALTH_PORT") or DEFAULT_HEALTH_PORT)
    assistant = StandinAssistant(default_config_path(), health_port=port)
    assistant.start()
    while not stopping.wait(0.5):
        pass
    assistant.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
