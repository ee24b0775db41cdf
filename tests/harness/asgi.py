"""One request straight into the ASGI app, with a body that arrives in chunks and a count of how many the app
took: what shows that a route answered before reading a body (or how much of it it read)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from litestar.types import ASGIApp, Message

CHUNK = 1024 * 1024


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0


async def asgi_request(
    app: ASGIApp, method: str, path: str, headers: dict[str, str], *, chunks: int, chunk: bytes | None = None
) -> Answer:
    """`chunks` pieces of `chunk` (1 MiB of spaces by default) as the body; the client then waits for the
    answer and hangs up once it is complete, as a real one would."""
    piece = chunk if chunk is not None else b" " * CHUNK
    answer = Answer()
    complete = asyncio.Event()
    total = len(piece) * chunks
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(total).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }

    async def receive() -> Message:
        if answer.chunks_read < chunks:
            answer.chunks_read += 1
            return {"type": "http.request", "body": piece, "more_body": answer.chunks_read < chunks}
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                complete.set()

    await asyncio.wait_for(app(scope, receive, send), 30)
    return answer
