"""The real app on a real port, in the test's event loop."""

from __future__ import annotations

import asyncio
import socket

from tests.harness.ports import free_port
from tests.harness.waiting import wait_for
from yourclaw.kit.settings import Settings


class LiveServer:
    """The real app on a real port (assistants talk HTTP to it), in the test's event loop. Extra hosts are
    addresses it also listens on at the same port (a Docker network's gateway, so containers reach it)."""

    def __init__(
        self, settings: Settings, host: str = "127.0.0.1", port: int | None = None, extra_hosts: tuple[str, ...] = ()
    ) -> None:
        from yourclaw.server.app import create_app
        from yourclaw.server.process import make_server

        self.host = host
        self.port = port or free_port()
        self.extra_hosts = extra_hosts
        self.app = create_app(settings)
        self.server = make_server(self.app, host, self.port)
        self._task: asyncio.Task | None = None
        self._sockets: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> LiveServer:
        for address in (self.host, *self.extra_hosts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self.port))
            sock.listen(2048)
            sock.setblocking(False)
            self._sockets.append(sock)
        self._task = asyncio.create_task(self.server.serve(sockets=self._sockets))
        await wait_for(lambda: self.server.started or self._task.done(), message="the API to listen")
        if self._task.done():
            self._task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 30)
        for sock in self._sockets:
            sock.close()
