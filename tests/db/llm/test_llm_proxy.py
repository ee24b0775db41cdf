"""The metering LLM proxy on a live server and PostgreSQL, in front of the local Anthropic standin over real
HTTP: exact charges from the streamed usage, bounded overdraw, refusals and notices, own keys, streaming
without buffering, errors passed through, and a caller that goes away."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from tests.harness.live_server import LiveServer
from tests.harness.rows import sign_in
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.credits.notices import no_credits_key
from yourclaw.db import channels
from yourclaw.db.models import Assistant, CreditLedgerEntry, Outbox, UsageDaily
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.standins.anthropic import STANDIN_PREFIX, AnthropicStandin

pytestmark = pytest.mark.db

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


@pytest.fixture
async def standin() -> AsyncIterator[AnthropicStandin]:
    standin = AnthropicStandin(usage={"input_tokens": 10, "output_tokens": 5})
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
async def proxy(database_url, db, standin) -> AsyncIterator[Proxy]:
    settings = make_settings(database_url, ANTHROPIC_API_KEY=SHARED_KEY, ANTHROPIC_BASE_URL=standin.base_url)
    async with LiveServer(settings) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield Proxy(server, http, standin)


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


async def call(proxy: Proxy, caller: Caller, **body) -> httpx.Response:
    return await proxy.http.post(MESSAGES, json=request_body(**body), headers=caller.headers)


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


# --- metering --------------------------------------------------------------------------------------


async def test_a_streamed_call_is_charged_exactly_from_its_usage_cache_tokens_included(proxy, sessions):
    proxy.standin.usage = {
        "input_tokens": 1000,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 3000,
        "output_tokens": 500,
    }
    caller = await make_caller(proxy, sessions, cents=100)
    response = await call(proxy, caller)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    kinds = [e["type"] for e in events(response.content)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"

    # Sonnet 4.6 at $3 in / $15 out per MTok, cache writes 1.25x and reads 0.1x input:
    # 1000*3 + 500*15 + 2000*3.75 + 3000*0.3 = 18,900 micro-dollars = 1,890 millicents.
    (entry,) = await charged(sessions, caller.user_id, 1)
    assert entry.delta_millicents == -1890
    async with sessions() as s:
        assert (await credits_repo.balance(s, caller.user_id)).used_millicents == 1890
    assert await llm_millicents(sessions, caller.user_id) == 1890

    (upstream,) = proxy.standin.message_requests()
    assert upstream.headers["x-api-key"] == SHARED_KEY
    assert upstream.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in upstream.headers
    assert caller.token not in json.dumps(upstream.headers)


async def test_a_plain_json_call_is_charged_from_its_usage(proxy, sessions):
    proxy.standin.usage = {"input_tokens": 2000, "output_tokens": 100}
    caller = await make_caller(proxy, sessions)
    response = await call(proxy, caller, stream=False, model="claude-haiku-4-5")
    assert response.status_code == 200
    assert response.json()["type"] == "message"
    (entry,) = await charged(sessions, caller.user_id, 1)
    expected = catalog.cost_millicents("claude-haiku-4-5", input_tokens=2000, output_tokens=100)
    assert expected == 250  # $1 in / $5 out per MTok: 2000*1 + 100*5 micro-dollars
    assert entry.delta_millicents == -expected


async def test_concurrent_calls_overdraw_at_most_what_was_in_flight_and_never_show_below_zero(proxy, sessions):
    # Each call costs 600 millicents (6000 Haiku input tokens); the user has 1000.
    proxy.standin.usage = {"input_tokens": 6000, "output_tokens": 0}
    caller = await make_caller(proxy, sessions, cents=1)
    proxy.standin.hold()
    in_flight = 8
    calls = [asyncio.create_task(call(proxy, caller, model="claude-haiku-4-5")) for _ in range(in_flight)]
    # All of them were let through while the balance was still above zero.
    await wait_for(lambda: len(proxy.standin.message_requests()) == in_flight, message="all calls upstream")
    proxy.standin.release()
    assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * in_flight
    await charged(sessions, caller.user_id, in_flight)

    async with sessions() as s:
        balance = await credits_repo.balance(s, caller.user_id)
    assert balance.used_millicents == in_flight * 600
    assert balance.used_millicents - balance.total_millicents <= in_flight * 600
    assert balance.remaining_millicents == 0
    usage = (await proxy.http.get("/api/v1/usage", headers=caller.signed_in)).json()
    assert usage["credits"]["remaining_cents"] == 0

    await caught_up(proxy, sessions)
    refused = await call(proxy, caller)
    assert refused.status_code == 402
    assert len(proxy.standin.message_requests()) == in_flight


async def test_out_of_credits_is_refused_as_a_billing_error_and_the_user_told_once(proxy, sessions):
    caller = await make_caller(proxy, sessions, cents=0)
    for _ in range(4):
        response = await call(proxy, caller)
        assert response.status_code == 402
        assert response.headers["x-should-retry"] == "false"
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "billing_error"
        # OpenClaw reads 402 + "insufficient credits" as billing (not a rate limit to retry).
        assert "insufficient credits" in error["error"]["message"].lower()
    assert proxy.standin.message_requests() == []

    key = no_credits_key(caller.user_id, datetime.now(UTC))
    await wait_for(lambda: outbox_keys(sessions, caller.user_id), message="the notice")
    assert await outbox_keys(sessions, caller.user_id) == [key]


async def test_the_low_credit_warning_goes_out_once_per_period(proxy, sessions):
    # 1000 millicents a call (10,000 Haiku input tokens) against 5000: 20% is left after the 4th call.
    proxy.standin.usage = {"input_tokens": 10_000, "output_tokens": 0}
    caller = await make_caller(proxy, sessions, cents=5)

    async def calls(n: int, already: int) -> None:
        for i in range(n):
            assert (await call(proxy, caller, model="claude-haiku-4-5")).status_code == 200
            await charged(sessions, caller.user_id, already + i + 1)
        # The notice is written after the charge, by a task of its own: wait for the meter to settle.
        await proxy.server.app.state.app_state.llm.meter.drain()

    await calls(3, 0)
    assert await outbox_keys(sessions, caller.user_id) == []
    await calls(2, 3)
    first = await outbox_keys(sessions, caller.user_id)
    assert len(first) == 1 and first[0].startswith(f"low-credits:{caller.user_id}:")

    async with sessions() as s:
        await credits_repo.reset_period(s, caller.user_id, 5000, reference="period-2")
        await s.commit()
    await caught_up(proxy, sessions)
    await calls(3, 5)
    assert await outbox_keys(sessions, caller.user_id) == first
    await calls(1, 8)
    second = await outbox_keys(sessions, caller.user_id)
    assert len(second) == 2 and second[0] == first[0] and second[1] != first[0]


# --- own keys --------------------------------------------------------------------------------------


async def test_own_key_calls_carry_the_users_key_and_are_recorded_not_charged(proxy, sessions):
    proxy.standin.usage = {"input_tokens": 1000, "output_tokens": 100}
    caller = await make_caller(proxy, sessions, cents=0)
    stored = await proxy.http.post(
        "/api/v1/api-keys", json={"provider": "ANTHROPIC", "key": OWN_KEY}, headers=caller.signed_in
    )
    assert stored.status_code == 201

    responses = [await call(proxy, caller), await call(proxy, caller, stream=False)]
    assert [r.status_code for r in responses] == [200, 200]
    assert [r.headers["x-api-key"] for r in proxy.standin.message_requests()] == [OWN_KEY, OWN_KEY]
    cost = catalog.cost_millicents("claude-sonnet-4-6", input_tokens=1000, output_tokens=100)
    await wait_for(lambda: _equals(llm_millicents(sessions, caller.user_id), 2 * cost), message="usage recorded")
    assert await ledger(sessions, caller.user_id) == []

    # Removed: back to the shared key, and to credits (none here).
    assert (await proxy.http.delete("/api/v1/api-keys", headers=caller.signed_in)).status_code == 204
    await caught_up(proxy, sessions)
    assert (await call(proxy, caller)).status_code == 402


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_the_shared_key_never_reaches_what_a_container_receives(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    stranger = {"x-api-key": "yca_" + "x" * 43, **VERSION}
    proxy.standin.fail_next(529, "overloaded_error")
    answers = [
        await call(proxy, caller),  # the 529
        await call(proxy, caller),
        await call(proxy, caller, stream=False),
        await proxy.http.get("/llm/anthropic/v1/models", headers=caller.headers),
        await proxy.http.post(f"{MESSAGES}/count_tokens", json=request_body(), headers=caller.headers),
        await proxy.http.post(MESSAGES, json=request_body(), headers=stranger),
    ]
    assert [a.status_code for a in answers] == [529, 200, 200, 200, 200, 401]
    for answer in answers:
        seen = answer.text + json.dumps(dict(answer.headers))
        assert SHARED_KEY not in seen and "S" * 40 not in seen


# --- authentication --------------------------------------------------------------------------------


async def test_a_wrong_or_revoked_token_gets_an_anthropic_shaped_401(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    bearer = {"Authorization": f"Bearer {caller.token}", **VERSION}
    assert (await proxy.http.post(MESSAGES, json=request_body(), headers=bearer)).status_code == 200

    wrong = [{}, {"x-api-key": "yca_" + "x" * 43}, {"x-api-key": SHARED_KEY}, {"Authorization": "Bearer nope"}]
    for headers in wrong:
        response = await proxy.http.post(MESSAGES, json=request_body(), headers={**headers, **VERSION})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"

    async with sessions() as s:
        assistant_id = await s.scalar(select(Assistant.id).where(Assistant.user_id == caller.user_id))
        await tokens.revoke_all(s, assistant_id)
        await s.commit()
    await caught_up(proxy, sessions)
    response = await call(proxy, caller)
    assert response.status_code == 401 and response.json()["type"] == "error"
    assert len(proxy.standin.message_requests()) == 1


# --- streaming -------------------------------------------------------------------------------------


async def test_the_stream_reaches_the_caller_before_it_ends_upstream(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    proxy.standin.hold()
    request = proxy.http.build_request("POST", MESSAGES, json=request_body(), headers=caller.headers)
    response = await proxy.http.send(request, stream=True)
    try:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        received = b""
        while b"content_block_stop" not in received:
            received += await anext(chunks)
        assert b"message_start" in received
        # Upstream is still holding its last events.
        assert proxy.standin.completed == 0
        proxy.standin.release()
        async for chunk in chunks:
            received += chunk
    finally:
        await response.aclose()
    assert b"message_stop" in received
    # The standin counts a stream once its handler returns, a moment after the last bytes left it.
    await wait_for(lambda: proxy.standin.completed == 1, message="the upstream stream to complete")


async def test_a_caller_that_goes_away_stops_the_upstream_request_and_pays_for_what_was_used(proxy, sessions):
    proxy.standin.usage = {"input_tokens": 4000, "output_tokens": 3000}
    proxy.standin.reply = "word " * 400
    proxy.standin.event_delay = 0.01
    caller = await make_caller(proxy, sessions)
    request = proxy.http.build_request("POST", MESSAGES, json=request_body(), headers=caller.headers)
    response = await proxy.http.send(request, stream=True)
    async for chunk in response.aiter_raw():
        if b"message_start" in chunk:
            break
    await response.aclose()  # mid-body: the connection is closed

    await wait_for(lambda: proxy.standin.aborted == 1, message="upstream to see the connection closed")
    assert proxy.standin.completed == 0
    (entry,) = await charged(sessions, caller.user_id, 1)
    # What message_start reported: all input, one output token.
    assert entry.delta_millicents == -catalog.cost_millicents("claude-sonnet-4-6", input_tokens=4000, output_tokens=1)


async def test_upstream_failures_are_passed_through_as_they_are(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    proxy.standin.fail_next(500, "api_error", "Internal server error")
    proxy.standin.fail_next(529, "overloaded_error", "Overloaded")
    for status, kind in ((500, "api_error"), (529, "overloaded_error")):
        response = await call(proxy, caller)
        assert response.status_code == status
        body = response.json()
        assert body["type"] == "error" and body["error"]["type"] == kind
        assert response.headers["request-id"].startswith("req_")

    proxy.standin.break_next_stream("overloaded_error")
    response = await call(proxy, caller)
    assert response.status_code == 200
    assert [e["type"] for e in events(response.content)] == ["message_start", "error"]
    # The input it used is charged; the failures before it cost nothing.
    (entry,) = await charged(sessions, caller.user_id, 1)
    assert entry.delta_millicents == -catalog.cost_millicents("claude-sonnet-4-6", input_tokens=10, output_tokens=1)


async def test_model_list_and_token_count_pass_through_without_charge(proxy, sessions):
    caller = await make_caller(proxy, sessions, cents=0)
    models = await proxy.http.get("/llm/anthropic/v1/models?limit=5", headers=caller.headers)
    assert models.status_code == 200 and models.json()["data"]
    counted = await proxy.http.post(f"{MESSAGES}/count_tokens", json=request_body(), headers=caller.headers)
    assert counted.status_code == 200 and counted.json() == {"input_tokens": 10}
    assert [r.headers["x-api-key"] for r in proxy.standin.requests] == [SHARED_KEY, SHARED_KEY]
    assert proxy.standin.requests[0].path == "/v1/models"


# --- configuration ---------------------------------------------------------------------------------


async def test_dev_without_a_key_answers_from_the_stand_in_and_meters_it(database_url, db, sessions):
    async with LiveServer(make_settings(database_url)) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert server.app.state.app_state.standins.anthropic is not None
        caller = await make_caller(Proxy(server, http, AnthropicStandin()), sessions)
        response = await http.post(MESSAGES, json=request_body(stream=False, text="hi there"), headers=caller.headers)
        assert response.status_code == 200
        assert response.json()["content"][0]["text"] == STANDIN_PREFIX + "hi there"
        streamed = await http.post(MESSAGES, json=request_body(text="and again"), headers=caller.headers)
        text = "".join(e["delta"]["text"] for e in events(streamed.content) if e["type"] == "content_block_delta")
        assert text == STANDIN_PREFIX + "and again"
        await charged(sessions, caller.user_id, 2)


async def test_production_without_a_shared_key_refuses_with_503(database_url, db, sessions, standin):
    settings = make_settings(database_url, YOURCLAW_ENV="production", ANTHROPIC_BASE_URL=standin.base_url)
    async with LiveServer(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert server.app.state.app_state.standins.anthropic is None
        caller = await make_caller(Proxy(server, http, standin), sessions)
        response = await http.post(MESSAGES, json=request_body(), headers=caller.headers)
        assert response.status_code == 503
        assert "LLM_NOT_CONFIGURED" in response.json()["error"]["message"]
    assert standin.requests == []
