"""The load generator: a small raw HTTP/1.1 keep-alive client (an HTTP library's own CPU would be counted
against the server on a 2-core machine), driven in a closed loop or an open loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

from _webhook.signed_requests import Webhooks


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            length = int(lower[at + 15 : lower.index(b"\r\n", at)])
            if length:
                await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.close()
            raise ConnectionResetError("the server closed the connection")
        return status

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    lags: list[float] = field(default_factory=list)  # open loop: actual send - scheduled send
    max_conns: int = 0
    reconnects: int = 0  # open loop: a spare connection the server had closed meanwhile

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)


async def closed_loop(host: str, port: int, requests: list[bytes], hooks: Webhooks, concurrency: int, seconds: float):
    result = LoadResult()
    conns = [await Conn.open(host, port) for _ in range(concurrency)]
    pool = iter(requests)
    clock = time.perf_counter
    began = clock()
    end = began + seconds

    async def worker(conn: Conn) -> None:
        while clock() < end:
            raw = next(pool, None) or hooks.build()
            t0 = clock()
            try:
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.errors[type(exc).__name__] += 1
                conn.close()
                conn = await Conn.open(host, port)
                continue
            result.latencies.append(clock() - t0)
            result.statuses[status] += 1
        conn.close()

    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed = clock() - began
    result.max_conns = concurrency
    return result


async def open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> LoadResult:
    """Sends at fixed times (i / rate), whatever the answers do: a late answer does not delay the next send.
    Latency is counted from the scheduled time, so the generator's own lateness counts against us too."""
    result = LoadResult()
    idle = [await Conn.open(host, port) for _ in range(16)]
    opened = len(idle)
    clock = time.perf_counter
    n = int(rate * seconds)
    began = clock() + 0.05
    tasks = []

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal opened
        if idle:
            conn = idle.pop()
        else:
            conn = await Conn.open(host, port)
            opened += 1
        result.lags.append(clock() - scheduled)
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError):
            # uvicorn closes a keep-alive connection after 5 s idle: a spare one may be gone. Sent again on a new
            # connection (harmless: the MessageSid makes a repeat a no-op), still timed from the schedule.
            conn.close()
            result.reconnects += 1
            try:
                conn = await Conn.open(host, port)
                opened += 1
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.errors[type(exc).__name__] += 1
                conn.close()
                return
        result.latencies.append(clock() - scheduled)
        result.statuses[status] += 1
        idle.append(conn)

    for i in range(n):
        scheduled = began + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i], scheduled)))
    await asyncio.gather(*tasks)
    result.elapsed = clock() - began
    result.max_conns = opened
    for conn in idle:
        conn.close()
    return result
