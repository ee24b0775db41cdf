"""The hottest calls as bare ASGI handlers, answered before Litestar's routing and middleware.

Twilio's WhatsApp webhook and the metering proxy's Messages call are what the API does most, and for
them Litestar's per-request machinery (router, exception and CORS middleware, header objects, the
streaming response's task group) cost about as much as the work itself. A bare route does what a Litestar
route would do for them and nothing more: the request id in and out with the request's log line
(`request_context`), and every failure answered through a mapping of its own (`{"detail", "code"}` from
`server.errors`, or Anthropic's error shape for the proxy). A domain hands over its handler already built
with what it needs (`server.app` builds them once the process's state exists); the ASGI basics they
share are in `kit.asgi`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from yourclaw.kit.asgi import ClientGone
from yourclaw.kit.request_context import request_id_middleware

log = structlog.get_logger(__name__)

# A failure's answer: status, JSON body, extra headers.
Render = Callable[[Exception], tuple[int, bytes, dict[str, str] | None]]


def timed(histogram, handler: ASGIApp) -> ASGIApp:
    """Observes how long `handler` takes to answer, failures included (`observability.metrics`)."""

    async def timing(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await handler(scope, receive, send)
        finally:
            histogram.observe(time.perf_counter() - started)

    return timing


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
