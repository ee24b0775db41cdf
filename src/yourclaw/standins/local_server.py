"""What the local stand-ins for Twilio, Stripe and Anthropic share: a threaded HTTP server of their own on a
loopback port, and the basics of their request handlers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a benchmark opens dozens of connections at once


class LocalServer:
    """Serves one handler class on its own thread until `stop`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._server: _Server | None = None

    def start(self, handler: type[BaseHTTPRequestHandler], port: int = 0, host: str = "127.0.0.1") -> str:
        self._server = _Server((host, port), handler)
        threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log, and one way to answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, status: int, payload: dict | bytes, content_type: str = "application/json", **headers) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
