"""ASGI basics for routes answered without Litestar's routing (the bare routes the server mounts for the
hottest calls): reading a capped body, one header, and cancelling an answer when the client hangs up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

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


class _Answer:
    """What `cancel_on_disconnect` knows of the answer it runs (`hangup_deferred` reads it)."""

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task
        self.complete = False
        self.hung_up = False
        self.deferring = 0


_answer: ContextVar[_Answer | None] = ContextVar("yourclaw_answer", default=None)


async def cancel_on_disconnect(receive: Receive, send: Send, answer: Callable[[Send], Awaitable[None]]) -> None:
    """Runs `answer(send)` and cancels it when the client hangs up before the answer is complete (the
    server's `send` would go on discarding it: an answer streamed from upstream would run to its end for
    nobody). Once the body is read, the next `receive` returns only when the client is gone, or when the
    answer is complete; the latter is told apart by watching the answer's last message. The answer runs
    in the request's own task: a task of its own would wait for the next turn of a busy event loop. Over a
    stretch in `hangup_deferred`, a hang-up is told rather than acted on."""
    answering = asyncio.current_task()
    assert answering is not None
    state = _Answer(answering)

    async def tracked(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            state.complete = True
        await send(message)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not state.complete:
            state.hung_up = True
            if not state.deferring:
                answering.cancel()

    watcher = asyncio.create_task(watch())
    token = _answer.set(state)
    try:
        await answer(tracked)
    except asyncio.CancelledError:
        if not state.hung_up:
            raise
        answering.uncancel()
        raise ClientGone() from None
    finally:
        _answer.reset(token)
        watcher.cancel()


@contextlib.contextmanager
def hangup_deferred() -> Iterator[Callable[[], bool]]:
    """A stretch of an answer (`cancel_on_disconnect`'s) that a hang-up must not cut: what it awaits runs
    in the request's own task, with no task of its own to shield it (each would cost turns of a busy event
    loop). Inside, the callable it gives says whether the client hung up meanwhile, for the answer to act
    on (by raising `ClientGone`); one left unsaid cancels the answer as the stretch ends normally."""
    state = _answer.get()
    if state is None:
        yield lambda: False
        return
    state.deferring += 1
    ended = False
    try:
        yield lambda: state.hung_up
        ended = True
    finally:
        state.deferring -= 1
        if ended and state.hung_up and not state.deferring:
            state.task.cancel()
