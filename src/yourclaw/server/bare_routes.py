"""The hottest calls as bare ASGI handlers, answered before Litestar's routing and middleware.

Twilio's WhatsApp webhook and the metering proxy's Messages call are what the API does most, and for
them Litestar's per-request machinery (router, exception and CORS middleware, header objects, the
streaming response's task group) cost about as much as the work itself. A bare route does what a Litestar
route would do for them and nothing more: the request id in and out with the request's log line
(`request_context`), and every failure answered through a mapping of its own (`{"detail", "code"}` from
`http_errors`, or Anthropic's error shape for the proxy). Handlers find the app's state where Litestar's
own do, in `scope["litestar_app"]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from yourclaw.kit.errors import YourClawError
from yourclaw.kit.request_context import request_id_middleware

log = structlog.get_logger(__name__)

# A failure's answer: status, JSON body, extra headers.
Render = Callable[[Exception], tuple[int, bytes, dict[str, str] | None]]


class ClientGone(Exception):
    """The client hung up before its request was read: there is nobody to answer."""


def bare_route(handler: ASGIApp, render: Render) -> ASGIApp:
    async def answering(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await handler(scope, receive, tracked)
        except ClientGone:
            return
        except Exception as exc:  # noqa: BLE001  (answered like Litestar's exception handlers would)
            if started:
                # Part of the answer is out; what is left is to say in the log why the rest is not.
                log.exception("bare_route_failed_while_answering", path=scope["path"], error=type(exc).__name__)
                return
            status, body, headers = render(exc)
            head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            head += [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()
            ]
            await send({"type": "http.response.start", "status": status, "headers": head})
            await send({"type": "http.response.body", "body": body})

    return request_id_middleware(answering)


async def read_body(receive: Receive, limit: int, what: str) -> bytes:
    """The whole request body, refused with 413 past `limit` bytes (`what` says what was too large)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise YourClawError(what, code="BODY_TOO_LARGE", status_code=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str:
    """One request header's value ('' when absent); `name` in lower case, as ASGI gives names."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def cancel_on_disconnect(receive: Receive, send: Send, answer: Callable[[Send], Awaitable[None]]) -> None:
    """Runs `answer(send)` and cancels it when the client hangs up before the answer is complete (the
    server's `send` would go on discarding it: an answer streamed from upstream would run to its end for
    nobody). Once the body is read, the next `receive` returns only when the client is gone, or when the
    answer is complete; the latter is told apart by watching the answer's last message. The answer runs
    in the request's own task: a task of its own would wait for the next turn of a busy event loop."""
    answering = asyncio.current_task()
    assert answering is not None
    complete = hung_up = False

    async def tracked(message: Message) -> None:
        nonlocal complete
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            complete = True
        await send(message)

    async def watch() -> None:
        nonlocal hung_up
        while (await receive())["type"] != "http.disconnect":
            pass
        if not complete:
            hung_up = True
            answering.cancel()

    watcher = asyncio.create_task(watch())
    try:
        await answer(tracked)
    except asyncio.CancelledError:
        if not hung_up:
            raise
        answering.uncancel()
        raise ClientGone() from None
    finally:
        watcher.cancel()
