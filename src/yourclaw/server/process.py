"""Runs the HTTP server and background loops in one event loop until SIGINT/SIGTERM, then stops them
in order so that everything started (the embedded PostgreSQL included) is shut down by its owner."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

import structlog
import uvicorn

log = structlog.get_logger(__name__)

Background = Callable[[asyncio.Event], Awaitable[None]]
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop: it roughly halves the event loop's share of every request's CPU."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


SAME_SIGNAL_SECONDS = 1.0
# Long enough for a background job to import its modules and open its pools.
SETTLE_SECONDS = 2.0


def freeze_startup_heap() -> None:
    """What start-up made lives as long as the process: the collector stops scanning it. Without this,
    each full collection walked every module, route and mapper, and stopped the process for ~100 ms."""
    gc.collect()
    gc.freeze()


class _Server(uvicorn.Server):
    """Signals are ours to handle: uvicorn would re-raise them after shutdown and kill the process
    before the caller's cleanup runs."""

    def __init__(self, config: uvicorn.Config, on_drain: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        self.on_drain = on_drain

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    async def shutdown(self, sockets=None) -> None:
        # Before uvicorn waits for open requests: long polls must answer now, not at the end of their wait.
        if self.on_drain is not None:
            self.on_drain()
        await super().shutdown(sockets)


def make_server(app, host: str, port: int) -> _Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10
    )
    return _Server(config, on_drain=getattr(getattr(app, "state", None), "drain", None))


async def run_until_signalled(
    app, host: str, port: int, *, background: list[Background] = (), announce: str | None = None
) -> None:
    server = make_server(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    first_signal: float | None = None

    def request_stop() -> None:
        nonlocal first_signal
        # A second signal forces the exit (open requests and the shutdown are cut short), unless it is the
        # first one again: a terminal's Ctrl-C reaches the whole process group, and `uv run` forwards the
        # one it got, so one key press arrives twice, a moment apart.
        if first_signal is None:
            first_signal = loop.time()
        elif loop.time() - first_signal > SAME_SIGNAL_SECONDS:
            server.force_exit = True
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)

    async def serve() -> None:
        await server.serve()
        stop.set()  # the server failed to start or stopped on its own: take the rest down too

    async def announce_when_started() -> None:
        listening = asyncio.create_task(server.listening.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        stopping.cancel()
        if server.listening.is_set():
            freeze_startup_heap()
            if announce:
                print(announce, flush=True)

    tasks = [asyncio.create_task(serve(), name="http")]
    tasks += [asyncio.create_task(job(stop), name=getattr(job, "__name__", "job")) for job in background]
    tasks.append(asyncio.create_task(announce_when_started(), name="announce"))
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        done = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, done, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("task_failed", task=task.get_name(), error=repr(result))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
