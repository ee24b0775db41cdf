"""A pool container's warm-up turn: its placeholder token gets a local answer from the proxy (nothing
upstream, no database work, nobody charged), a forged one is refused, and it opens nothing else."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from tests.harness.live_server import LiveServer
from tests.harness.llm_proxy import MESSAGES, SHARED_KEY, VERSION, Proxy, events, request_body
from tests.harness.settings import make_settings
from yourclaw.db.models import CreditLedgerEntry
from yourclaw.llm import warmup

pytestmark = pytest.mark.db


@pytest.fixture
async def proxy(database_url, db, standin):
    """The proxy fixture's server, with its settings kept: the warm-up key comes from ENCRYPTION_KEY."""
    settings = make_settings(database_url, ANTHROPIC_API_KEY=SHARED_KEY, ANTHROPIC_BASE_URL=standin.base_url)
    async with LiveServer(settings) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        proxy = Proxy(server, http, standin)
        proxy.key = settings.fernet_keys[0]
        yield proxy


def _token(proxy, pool_id: uuid.UUID) -> str:
    return warmup.warmup_token(proxy.key, pool_id)


async def test_a_warm_up_turn_is_answered_locally_and_charged_to_nobody(proxy, sessions):
    headers = {"x-api-key": _token(proxy, uuid.uuid4()), **VERSION}
    streamed = await proxy.http.post(MESSAGES, json=request_body(), headers=headers)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    kinds = [e["type"] for e in events(streamed.content)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    whole = await proxy.http.post(MESSAGES, json=request_body(stream=False), headers=headers)
    assert whole.status_code == 200 and whole.json()["content"][0]["text"] == warmup.WARMUP_TEXT
    background = await proxy.http.post("/llm/anthropic/bg/heartbeat/v1/messages", json=request_body(), headers=headers)
    assert background.status_code in (200, 404)  # a background route answers it the same way where it exists
    assert proxy.standin.message_requests() == []
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(CreditLedgerEntry)) == 0


async def test_a_forged_or_foreign_warm_up_token_is_refused(proxy):
    good = _token(proxy, uuid.uuid4())
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    other_key = warmup.warmup_token("another-key", uuid.uuid4())
    for token in (forged, other_key, warmup.WARMUP_PREFIX + "nonsense"):
        response = await proxy.http.post(MESSAGES, json=request_body(), headers={"x-api-key": token, **VERSION})
        assert response.status_code == 401, token
    assert proxy.standin.message_requests() == []


async def test_a_warm_up_token_cannot_poll_for_messages(proxy):
    token = _token(proxy, uuid.uuid4())
    response = await proxy.http.get(
        "/api/v1/runtime/inbound",
        params={"wait": 1},
        headers={"Authorization": f"Bearer {token}", "X-Config-Generation": "1", "X-Instance-Id": "abc-1"},
    )
    assert response.status_code == 401
