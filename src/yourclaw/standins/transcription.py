"""A local stand-in for an OpenAI-compatible transcription API (`POST /v1/audio/transcriptions`, multipart,
`Authorization: Bearer <key>`), for `yourclaw dev` and the tests. A test says what a recording says and how
long it lasts; any other recording is "heard" as a sentence naming its size, lasting a second per 2 KB (about
what a WhatsApp voice note takes). It records what it was sent."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from yourclaw.standins.local_server import LocalServer, QuietHandler

PATH = "/v1/audio/transcriptions"
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Heard:
    model: str
    filename: str
    content_type: str
    size: int
    response_format: str


@dataclass
class TranscriptionStandin:
    api_key: str = field(default_factory=lambda: "sk-transcription-standin-" + secrets.token_hex(8))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._said: dict[str, tuple[str, float]] = {}
        self._heard: list[Heard] = []
        self._failures = 0
        self._local = LocalServer("transcription stand-in")

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        return self._local.start(_handler(self), port, host)

    def stop(self) -> None:
        self._local.stop()

    @property
    def base_url(self) -> str:
        """As OpenAI's is given: with /v1."""
        return self._local.base_url + "/v1"

    @property
    def heard(self) -> list[Heard]:
        with self._lock:
            return list(self._heard)

    def says(self, audio: bytes, text: str, seconds: float) -> None:
        with self._lock:
            self._said[hashlib.sha256(audio).hexdigest()] = (text, seconds)

    def fail_next(self, count: int = 1) -> None:
        with self._lock:
            self._failures += count

    def _transcribe(self, audio: bytes, heard: Heard) -> tuple[int, dict]:
        with self._lock:
            if self._failures:
                self._failures -= 1
                return 500, {"error": {"message": "The server had an error", "type": "server_error"}}
            self._heard.append(heard)
            text, seconds = self._said.get(
                hashlib.sha256(audio).hexdigest(), (f"A voice note of {len(audio)} bytes.", max(1.0, len(audio) / 2048))
            )
        if heard.response_format == "verbose_json":
            return 200, {"task": "transcribe", "language": "english", "duration": seconds, "text": text, "segments": []}
        return 200, {"text": text}


class _Handler(QuietHandler):
    standin: TranscriptionStandin

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?")[0] != PATH:
            self._error(404, "Not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= MAX_BODY else b""
        if self.headers.get("Authorization") != f"Bearer {self.standin.api_key}":
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            self._error(400, "Expected multipart/form-data")
            return
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        fields: dict[str, str] = {}
        audio, filename, file_type = b"", "", ""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                audio, filename, file_type = payload, part.get_filename() or "", part.get_content_type()
            elif name:
                fields[str(name)] = payload.decode()
        if not audio or not fields.get("model"):
            self._error(400, "A file and a model are required")
            return
        heard = Heard(fields["model"], filename, file_type, len(audio), fields.get("response_format", "json"))
        self._send(*self.standin._transcribe(audio, heard))


def _handler(standin: TranscriptionStandin) -> type[QuietHandler]:
    return type("TranscriptionStandinHandler", (_Handler,), {"standin": standin})
