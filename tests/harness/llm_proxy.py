"""A live API with the metering proxy in front of a local Anthropic stand-in, and callers of it: what the
proxy's tests (and its fixtures, `tests/fixtures/llm_proxy.py`) share."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from tests.harness.live_server import LiveServer
from tests.harness.rows import sign_in
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.db import channels
from yourclaw.db.models import Assistant, CreditLedgerEntry, Outbox, UsageDaily
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.standins.anthropic import AnthropicStandin

SHARED_KEY = "sk-ant-shared-" + "S" * 40
OWN_KEY = "sk-ant-api03-" + "u" * 60 + "wxyz"
MESSAGES = "/llm/anthropic/v1/messages"
VERSION = {"anthropic-version": "2023-06-01"}


@dataclass
class Proxy:
    server: LiveServer
    http: httpx.AsyncClient
    standin: AnthropicStandin


@dataclass
class Caller:
    user_id: uuid.UUID
    token: str
    signed_in: dict[str, str]  # the dashboard's Authorization header for this user

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.token, **VERSION}


async def make_caller(proxy: Proxy, sessions, *, cents: int = 100) -> Caller:
    """A signed-in user with an assistant, its proxy token, and `cents` of credit."""
    signed_in, user_id = await sign_in(proxy.http)
    assert (await proxy.http.get("/api/v1/api-keys", headers=signed_in)).status_code == 200  # creates the user
    box = SecretBox([Fernet.generate_key().decode()])
    async with sessions() as s:
        row = Assistant(user_id=user_id, model=catalog.DEFAULT_MODEL, status="READY", phase="ready")
        s.add(row)
        await s.flush()
        token = await tokens.issue(s, box, user_id=user_id, assistant_id=row.id)
        if cents:
            await credits_repo.grant(s, user_id, cents * 1000, reference=f"grant-{user_id}")
        await s.commit()
    return Caller(user_id, token, signed_in)


def request_body(*, stream: bool = True, model: str = "claude-sonnet-4-6", text: str = "hello") -> dict:
    return {"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role": "user", "content": text}]}


async def call(proxy: Proxy, caller: Caller, *, headers: dict[str, str] | None = None, **body) -> httpx.Response:
    return await proxy.http.post(MESSAGES, json=request_body(**body), headers={**caller.headers, **(headers or {})})


async def ledger(sessions, user_id: uuid.UUID) -> list[CreditLedgerEntry]:
    async with sessions() as s:
        stmt = select(CreditLedgerEntry).where(
            CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.reason == "LLM_USAGE"
        )
        return list((await s.scalars(stmt.order_by(CreditLedgerEntry.id))).all())


async def charged(sessions, user_id: uuid.UUID, count: int) -> list[CreditLedgerEntry]:
    async def enough():
        rows = await ledger(sessions, user_id)
        return rows if len(rows) >= count else None

    return await wait_for(enough, message=f"{count} charges")


async def llm_millicents(sessions, user_id: uuid.UUID) -> int:
    async with sessions() as s:
        return await s.scalar(
            select(func.coalesce(func.sum(UsageDaily.llm_millicents), 0)).where(UsageDaily.user_id == user_id)
        )


async def outbox_keys(sessions, user_id: uuid.UUID) -> list[str]:
    async with sessions() as s:
        rows = await s.scalars(select(Outbox.dedupe_key).where(Outbox.user_id == user_id).order_by(Outbox.id))
        return list(rows.all())


async def caught_up(proxy: Proxy, sessions) -> None:
    """Every change committed so far has reached the proxy's callers: they come as notifications, in
    commit order, so one sent now and heard means the earlier ones were heard too."""
    marker = uuid.uuid4()
    async with sessions() as s:
        await s.execute(select(func.pg_notify(channels.LLM_CALLERS, f"changed {marker}")))
        await s.commit()
    cache = proxy.server.app.state.app_state.llm.callers
    await wait_for(lambda: cache.heard_of(marker), message="the proxy to hear of the change")


def events(raw: bytes) -> list[dict]:
    return [json.loads(line[5:]) for line in raw.split(b"\n") if line.startswith(b"data:")]
