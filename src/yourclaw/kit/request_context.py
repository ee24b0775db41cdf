"""Request id in and out, bound to every log line of the request together with the user id."""

from __future__ import annotations

import itertools
import os
import re
import time

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("yourclaw.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HEADER = b"x-request-id"
# Random per process, then counted: unique without a system call for randomness on every request.
_PREFIX = os.urandom(8).hex()
_NEXT = itertools.count(1)


def _new_process() -> None:
    global _PREFIX, _NEXT
    _PREFIX, _NEXT = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_new_process)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_NEXT):016x}"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == HEADER), "")
        request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    return middleware
