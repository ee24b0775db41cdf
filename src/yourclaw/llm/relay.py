"""One upstream answer on its way to the caller, and what it used, however it ends.

Every chunk goes to the caller as it comes, and past the usage reader. The call is settled exactly once,
with what the answer's usage says:
- completed, or an upstream stream broken midway: the usage seen;
- the caller gone during a stream: the upstream request is closed (that is what stops Anthropic
  generating) and the usage seen is charged;
- the caller gone during a plain JSON answer, or before upstream answered at all: Anthropic bills the
  whole answer anyway, so it is read to its end for nobody (`drain`), to charge it exactly; a stream is
  read only until its first event, which carries the input side, then closed;
- nothing known (an answer that never said its usage): `None`, which settles at the worst case reserved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import structlog
from litestar.types import Send

from yourclaw.llm.metering import Call
from yourclaw.llm.usage import Usage, UsageReader

log = structlog.get_logger(__name__)

RETURNED_HEADERS = ("request-id", "retry-after", "x-should-retry", "cache-control")
UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
_STREAM_BROKE = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream lost"}}\n\n'
# A plain answer read for nobody is given this long: the longest answers take minutes.
DRAIN_LIMIT = 900.0

# Settles a call: (call, model, usage or None when nothing is known).
Settle = Callable[[Call, str, Usage | None], None]


def returned(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {name: upstream.headers[name] for name in RETURNED_HEADERS if name in upstream.headers}


def response_start(status: int, content_type: str, headers: dict[str, str], length: int | None = None) -> dict:
    head = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        head.append((b"content-length", str(length).encode()))
    head += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": head}


class Relay:
    def __init__(self, upstream: aiohttp.ClientResponse, reader: UsageReader, call: Call, settle: Settle) -> None:
        self._upstream = upstream
        self._reader = reader
        self._call = call
        self._settle = settle
        self._complete = False

    async def send_to(self, send: Send, spawn: Callable[..., asyncio.Task]) -> None:
        upstream = self._upstream
        content_type = upstream.headers.get("content-type", "application/json")
        handed_over = False
        try:
            await send(response_start(200, content_type, returned(upstream)))
            try:
                async for chunk in upstream.content.iter_any():
                    self._reader.feed(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._complete = True
            except UPSTREAM_ERRORS as exc:
                log.warning("llm_upstream_broke", error=type(exc).__name__, reference=self._call.reference)
                if not self._reader.streaming:
                    raise  # a JSON answer cut short: the caller sees the connection end early
                # Anthropic's own way of saying a stream failed midway.
                await send({"type": "http.response.body", "body": _STREAM_BROKE, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self._complete and not self._reader.streaming:
                spawn(self.drain())
                handed_over = True
            raise
        finally:
            if not handed_over:
                self._end()

    async def drain(self) -> None:
        """Reads the rest of the answer for nobody, to learn its usage: a stream only until it said what
        its input cost (then closing it stops the generation), a plain answer to its end."""
        try:
            async with asyncio.timeout(DRAIN_LIMIT):
                async for chunk in self._upstream.content.iter_any():
                    self._reader.feed(chunk)
                    if self._reader.streaming and self._reader.started:
                        break
                else:
                    self._complete = True
        except (*UPSTREAM_ERRORS, TimeoutError) as exc:
            log.warning("llm_upstream_drain_failed", error=type(exc).__name__, reference=self._call.reference)
        finally:
            self._end()

    def _end(self) -> None:
        # Read to its end, the connection goes back to the pool; otherwise closing it is what tells
        # Anthropic to stop generating (a caller that went away must not go on costing tokens).
        if self._complete:
            self._upstream.release()
        else:
            self._upstream.close()
        usage = self._reader.finish()
        self._settle(self._call, self._reader.model, usage if self._reader.known else None)
