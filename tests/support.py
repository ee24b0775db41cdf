"""Helpers for tests: settings, sign-in, ports and waiting on a condition with a deadline."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.db.models import Assistant, User, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings, load_settings
from yourclaw.llm import catalog
from yourclaw.protocol import tokens

DEV_SECRET = "test-dev-secret-" + "x" * 40
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {
        "YOURCLAW_ENV": "development",
        "DATABASE_URL": database_url,
        "DEV_JWT_SECRET": DEV_SECRET,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "API_URL": "http://127.0.0.1:8000",
        "APP_URL": "http://127.0.0.1:3000",
        "TWILIO_WHATSAPP_NUMBER": "whatsapp:+14155238886",
    }
    env.update(overrides)
    return load_settings(env)


async def sign_in(client: AsyncTestClient, email: str | None = None) -> tuple[dict[str, str], uuid.UUID]:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post("/api/v1/dev/login", json={"email": email})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, uuid.UUID(body["user_id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll until `predicate()` (sync or async) is truthy; fail with `message` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def wait_for_sync(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """`wait_for` for synchronous tests (the browser layer drives Playwright's sync API)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


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


async def make_assistant(
    sessions,
    box: SecretBox,
    *,
    email: str | None = None,
    millicents: int = 0,
    status: str = "READY",
    phase: str = "ready",
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A user with an assistant (READY unless told) and its current token, and `millicents` of credit:
    (user, assistant, token)."""
    async with sessions() as s:
        user = User(id=uuid.uuid4(), email=email or f"{uuid.uuid4().hex[:8]}@example.com")
        s.add(user)
        await s.flush()
        row = Assistant(user_id=user.id, model=catalog.DEFAULT_MODEL, status=status, phase=phase)
        s.add(row)
        await s.flush()
        token = await tokens.issue(s, box, user_id=user.id, assistant_id=row.id)
        if millicents:
            await credits_repo.grant(s, user.id, millicents, reference=f"grant-{user.id}")
        await s.commit()
    return user.id, row.id, token


async def make_user(
    sessions,
    phone: str,
    *,
    verified: bool = True,
    assistant: str | None = "READY",
    phase: str = "ready",
    cents: int = 100,
    code: str = "123456",
    code_expires_in: timedelta = timedelta(minutes=30),
) -> uuid.UUID:
    async with transaction(sessions) as s:
        user = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.com")
        s.add(user)
        await s.flush()
        s.add(
            UserPhone(
                user_id=user.id,
                phone_e164=phone,
                verified_at=datetime.now(UTC) if verified else None,
                verification_code=None if verified else code,
                code_expires_at=None if verified else datetime.now(UTC) + code_expires_in,
            )
        )
        if assistant is not None:
            s.add(Assistant(user_id=user.id, model=catalog.DEFAULT_MODEL, status=assistant, phase=phase))
        if cents:
            await credits_repo.grant(s, user.id, cents * 1000, reference=f"test-grant-{user.id}")
        return user.id


async def subscribe(sessions_or_session, user_id: uuid.UUID, status: str = "ACTIVE") -> None:
    """A subscription row written directly, as if Stripe's webhooks had already been applied (the user
    row is made if missing). Takes a sessionmaker (commits) or a session (the caller commits)."""
    from sqlalchemy.dialects.postgresql import insert

    from yourclaw.db.models import Subscription

    async def write(s) -> None:
        await s.execute(insert(User).values(id=user_id).on_conflict_do_nothing())
        now = datetime.now(UTC)
        s.add(
            Subscription(
                user_id=user_id,
                stripe_customer_id=f"cus_{user_id.hex[:12]}",
                stripe_subscription_id=f"sub_{user_id.hex}",
                status=status,
                current_period_end=now + timedelta(days=30),
                activated_at=now if status in ("ACTIVE", "PAST_DUE") else None,
                past_due_since=now if status == "PAST_DUE" else None,
            )
        )
        await s.flush()

    if isinstance(sessions_or_session, AsyncSession):
        await write(sessions_or_session)
    else:
        async with transaction(sessions_or_session) as s:
            await write(s)
