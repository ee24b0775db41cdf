"""ASGI basics for routes answered without Litestar's routing (the bare routes the server mounts for the
hottest calls): reading a capped body, one header, and cancelling an answer when the client hangs up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from litestar.types import Message, Receive, Scope, Send

from yourclaw.kit.errors import BodyTooLarge


class ClientGone(Exception):
    """The client hung up before its request was read: there is nobody to answer."""


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
            raise BodyTooLarge(what)
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
