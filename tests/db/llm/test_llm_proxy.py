"""The metering LLM proxy on a live server and PostgreSQL, in front of the local Anthropic standin over real
HTTP: exact charges from the streamed usage, bounded overdraw, refusals and notices, own keys, streaming
without buffering, errors passed through, and a caller that goes away."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from tests.harness.live_server import LiveServer
from tests.harness.llm_proxy import (
    MESSAGES,
    OWN_KEY,
    SHARED_KEY,
    VERSION,
    Proxy,
    call,
    caught_up,
    charged,
    events,
    ledger,
    llm_millicents,
    make_caller,
    outbox_keys,
    request_body,
)
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.credits.notices import used_up_key
from yourclaw.db.models import Assistant, Outbox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.standins.anthropic import STANDIN_PREFIX, AnthropicStandin

pytestmark = pytest.mark.db

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


async def test_out_of_credits_is_refused_as_a_billing_error_and_the_user_told_once_a_period(proxy, sessions):
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

    await wait_for(lambda: outbox_keys(sessions, caller.user_id), message="the notice")
    assert await outbox_keys(sessions, caller.user_id) == [used_up_key(caller.user_id, "0")]
    async with sessions() as s:
        (text,) = (await s.scalars(select(Outbox.body).where(Outbox.user_id == caller.user_id))).all()
    assert "/dashboard#account" in text and "API key" in text

    # A new period: used up again, told again.
    async with sessions() as s, s.begin():
        await credits_repo.grant(s, caller.user_id, 1, reference="tiny-top-up")
    await caught_up(proxy, sessions)
    assert (await call(proxy, caller)).status_code == 402
    await wait_for(lambda: _count(outbox_keys(sessions, caller.user_id), 2), message="the second notice")


async def test_the_low_credit_warning_goes_out_once_per_period(proxy, sessions):
    # 100 millicents a call (1,000 Haiku input tokens) against 1,000: 20% is left after the 8th call.
    proxy.standin.usage = {"input_tokens": 1_000, "output_tokens": 0}
    caller = await make_caller(proxy, sessions, cents=1)

    async def calls(n: int, already: int) -> None:
        for i in range(n):
            answer = await call(proxy, caller, model="claude-haiku-4-5", text="x" * 4_000)
            assert answer.status_code == 200
            await charged(sessions, caller.user_id, already + i + 1)
        # The notice is written after the charge, by a task of its own: wait for the meter to settle.
        await proxy.server.app.state.app_state.llm.meter.drain()

    await calls(7, 0)
    assert await outbox_keys(sessions, caller.user_id) == []
    await calls(1, 7)
    first = await outbox_keys(sessions, caller.user_id)
    assert len(first) == 1 and first[0].startswith(f"low-credits:{caller.user_id}:")

    async with sessions() as s:
        await credits_repo.reset_period(s, caller.user_id, 1_000, reference="period-2")
        await s.commit()
    await caught_up(proxy, sessions)
    await calls(7, 8)
    assert await outbox_keys(sessions, caller.user_id) == first
    await calls(1, 15)
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


async def _count(value, expected: int) -> bool:
    return len(await value) == expected


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


@pytest.mark.parametrize(
    "body",
    [b'{"model": "claude-sonnet-4-6", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"\xff\xfe", b"[1]"],
    ids=["deeply-nested", "not-utf8", "not-an-object"],
)
async def test_a_token_count_of_a_body_anthropic_could_not_read_is_a_400_and_goes_nowhere(proxy, sessions, body):
    caller = await make_caller(proxy, sessions, cents=0)
    headers = {**caller.headers, "content-type": "application/json"}
    counted = await proxy.http.post(f"{MESSAGES}/count_tokens", content=body, headers=headers)
    assert counted.status_code == 400
    assert counted.json()["error"]["type"] == "invalid_request_error"
    assert proxy.standin.requests == []


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
