"""The load generator's HTTP/1.1 client: one keep-alive connection, one request at a time, the request's bytes
built once. It reads only what the figures need: the status, where the body starts (time to first byte) and
where a chunked or sized body ends. aiohttp spent about half a millisecond of CPU per streamed call, and on a
2-core machine the generator's CPU is taken from the process it measures."""

from __future__ import annotations

import asyncio
import time


class ProtocolError(Exception):
    pass


def build_request(url_path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {url_path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Exchange(asyncio.Protocol):
    """Reads one answer at a time: head, then a chunked or content-length body."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._done: asyncio.Future | None = None
        self._headed = False
        self._chunked = False
        self._left = 0  # content-length body: bytes still to come
        self.first: float | None = None
        self.status = 0
        self.body = bytearray()
        self._lost: Exception | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self._lost = exc or ProtocolError("the server closed the connection")
        if self._done is not None and not self._done.done():
            self._done.set_exception(self._lost)

    def start(self, request: bytes) -> asyncio.Future:
        if self._lost is not None:
            raise self._lost
        self._buffer.clear()
        self.body.clear()
        self._headed, self.first, self.status = False, None, 0
        self._done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return self._done

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            return
        self._buffer += data
        try:
            if not self._headed and not self._read_head():
                return
            if self.first is None and self._buffer:
                self.first = time.perf_counter()
            if self._read_body():
                self._done.set_result(None)
        except ProtocolError as exc:
            self._done.set_exception(exc)

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        self._headed = True
        status_line, *header_lines = head.split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        if not self._chunked:
            if "content-length" not in fields:
                raise ProtocolError("an answer with neither a length nor chunks")
            self._left = int(fields["content-length"])
        return True

    def _read_body(self) -> bool:
        """True once the body ended; keeps what came in `body`."""
        if not self._chunked:
            taken = self._buffer[: self._left]
            self.body += taken
            self._left -= len(taken)
            del self._buffer[: len(taken)]
            return self._left == 0
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(bytes(self._buffer[:line_end]).split(b";", 1)[0], 16)
            if len(self._buffer) < line_end + 2 + size + 2:
                return False
            start = line_end + 2
            self.body += self._buffer[start : start + size]
            del self._buffer[: start + size + 2]
            if size == 0:
                return True


class Connection:
    """`post(request)` → (time to first body byte, total), in seconds; the connection is kept for the next."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._exchange: _Exchange | None = None

    async def post(self, request: bytes) -> tuple[float, float]:
        if self._exchange is None or self._exchange._lost is not None:
            loop = asyncio.get_running_loop()
            _, self._exchange = await loop.create_connection(_Exchange, self._host, self._port)
        exchange = self._exchange
        began = time.perf_counter()
        await exchange.start(request)
        end = time.perf_counter()
        if exchange.status != 200:
            raise RuntimeError(f"answered {exchange.status}: {bytes(exchange.body[:200])!r}")
        return (exchange.first or end) - began, end - began

    def close(self) -> None:
        if self._exchange is not None and self._exchange.transport is not None:
            self._exchange.transport.close()
