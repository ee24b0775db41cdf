"""The proxy reserves before it forwards: an attacker holding an assistant token cannot overdraw the credits,
open more calls than allowed, use server tools or premium betas on the shared key, or hang up to go
uncharged. On a live server and PostgreSQL in front of the Anthropic stand-in."""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import pytest
from sqlalchemy import func, select

from tests.harness.llm_proxy import (
    MESSAGES,
    OWN_KEY,
    VERSION,
    Caller,
    Proxy,
    call,
    caught_up,
    charged,
    ledger,
    llm_millicents,
    make_caller,
    request_body,
)
from tests.harness.rows import credit_figures
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import LlmSpendDaily
from yourclaw.llm import call_bounds, catalog

pytestmark = pytest.mark.db


async def funded(proxy: Proxy, sessions, millicents: int) -> Caller:
    caller = await make_caller(proxy, sessions, cents=0)
    if millicents:
        async with sessions() as s, s.begin():
            await credits_repo.grant(s, caller.user_id, millicents, reference=f"grant-{uuid.uuid4()}")
    return caller


async def settled(sessions, user_id: uuid.UUID) -> tuple[int, int, int, int]:
    """Waits until no call of the user is open any more."""

    async def none_open():
        now = await credit_figures(sessions, user_id)
        return now if now[2] == 0 and now[3] == 0 else None

    return await wait_for(none_open, message="every call settled")


def huge_body(model: str = "claude-opus-5", *, stream: bool = True) -> dict:
    # ~200k words of input: far more than any credit left.
    text = "word " * 200_000
    return {"model": model, "max_tokens": 64_000, "stream": stream, "messages": [{"role": "user", "content": text}]}


async def test_max_size_calls_against_one_millicent_are_never_forwarded(proxy, sessions):
    caller = await funded(proxy, sessions, 1)
    answers = await asyncio.gather(
        *(proxy.http.post(MESSAGES, json=huge_body(), headers=caller.headers) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [402] * 8
    assert all(a.json()["error"]["type"] == "billing_error" for a in answers)
    assert proxy.standin.message_requests() == []
    assert await credit_figures(sessions, caller.user_id) == (1, 0, 0, 0)
    assert await ledger(sessions, caller.user_id) == []


async def test_concurrent_calls_of_random_sizes_never_charge_past_the_allowance(proxy, sessions):
    proxy.standin.usage = None  # estimated from each request: varies with its size
    proxy.standin.reply = "lorem ipsum dolor " * 400  # ~1,800 output tokens, cut to each call's max_tokens
    allowance = 5_000
    caller = await funded(proxy, sessions, allowance)
    rng = random.Random(20261207)
    statuses: list[int] = []
    for _ in range(3):
        bodies = [
            {
                "model": "claude-haiku-4-5",
                "max_tokens": rng.randint(1, 4_000),
                "stream": rng.random() < 0.5,
                "messages": [{"role": "user", "content": "x" * rng.randint(0, 20_000)}],
            }
            for _ in range(10)
        ]
        answers = await asyncio.gather(*(proxy.http.post(MESSAGES, json=b, headers=caller.headers) for b in bodies))
        statuses += [a.status_code for a in answers]
    assert set(statuses) <= {200, 402, 429} and 200 in statuses and 402 in statuses
    total, used, _, _ = await settled(sessions, caller.user_id)
    assert total == allowance and 0 < used <= allowance
    assert -sum(e.delta_millicents for e in await ledger(sessions, caller.user_id)) == used


async def test_a_call_past_the_limit_in_flight_gets_a_429_and_an_own_key_keeps_the_limit(proxy, sessions):
    for own_key in (False, True):
        caller = await funded(proxy, sessions, 0 if own_key else 1_000_000)
        if own_key:
            stored = await proxy.http.post(
                "/api/v1/api-keys", json={"provider": "ANTHROPIC", "key": OWN_KEY}, headers=caller.signed_in
            )
            assert stored.status_code == 201
        before = len(proxy.standin.message_requests())
        proxy.standin.hold()
        calls = [asyncio.create_task(call(proxy, caller)) for _ in range(4)]
        await wait_for(
            lambda upstream=before + 4: len(proxy.standin.message_requests()) == upstream, message="four calls upstream"
        )
        fifth = await call(proxy, caller)
        assert fifth.status_code == 429
        assert fifth.headers["retry-after"] == "2"
        assert fifth.json()["error"]["type"] == "rate_limit_error"
        proxy.standin.release()
        assert [c.status_code for c in await asyncio.gather(*calls)] == [200] * 4
        await settled(sessions, caller.user_id)
        assert (await call(proxy, caller)).status_code == 200


async def test_near_the_end_of_the_credits_max_tokens_is_cut_to_what_is_left(proxy, sessions):
    caller = await funded(proxy, sessions, 3_000)  # 3 cents: not 64k Sonnet tokens
    body = request_body(stream=False) | {"max_tokens": 64_000}
    answer = await proxy.http.post(MESSAGES, json=body, headers=caller.headers)
    assert answer.status_code == 200
    counted = [r for r in proxy.standin.requests if r.path.endswith("/count_tokens")]
    assert len(counted) == 1 and "max_tokens" not in counted[0].json()
    (forwarded,) = proxy.standin.message_requests()
    # The stand-in counts 10 input tokens: the rest of the 3 cents pays for this much output.
    expected = call_bounds.affordable_output("claude-sonnet-4-6", 10, 3_000, long_cache=False)
    assert forwarded.json()["max_tokens"] == expected and 1024 <= expected < 64_000
    await settled(sessions, caller.user_id)

    # 0.5 cent left pays for fewer tokens than a useful answer: refused, and told how much is left.
    poorer = await funded(proxy, sessions, 500)
    refused = await proxy.http.post(MESSAGES, json=body, headers=poorer.headers)
    assert refused.status_code == 402 and "$0.00 of credit is left" in refused.json()["error"]["message"]
    assert len(proxy.standin.message_requests()) == 1


async def test_server_tools_need_an_own_key_and_only_allowed_betas_reach_anthropic(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 50}
    refused = await proxy.http.post(MESSAGES, json=request_body() | {"tools": [search]}, headers=caller.headers)
    assert refused.status_code == 400 and "web_search_20250305" in refused.json()["error"]["message"]
    assert proxy.standin.message_requests() == []

    betas = {"anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07"}
    assert (await call(proxy, caller, headers=betas)).status_code == 200
    assert proxy.standin.message_requests()[-1].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"

    stored = await proxy.http.post(
        "/api/v1/api-keys", json={"provider": "ANTHROPIC", "key": OWN_KEY}, headers=caller.signed_in
    )
    assert stored.status_code == 201
    await caught_up(proxy, sessions)  # the caller was cached without the key: the change comes as a notification
    own = await proxy.http.post(
        MESSAGES, json=request_body() | {"tools": [search]}, headers={**caller.headers, **betas}
    )
    assert own.status_code == 200
    assert proxy.standin.message_requests()[-1].headers["anthropic-beta"] == betas["anthropic-beta"]


async def test_web_searches_on_an_own_key_are_priced_in_what_it_spent(proxy, sessions):
    proxy.standin.usage = {"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 3}}
    caller = await make_caller(proxy, sessions, cents=0)
    stored = await proxy.http.post(
        "/api/v1/api-keys", json={"provider": "ANTHROPIC", "key": OWN_KEY}, headers=caller.signed_in
    )
    assert stored.status_code == 201
    search = {"type": "web_search_20250305", "name": "web_search"}
    answer = await proxy.http.post(
        MESSAGES, json=request_body(stream=False) | {"tools": [search]}, headers=caller.headers
    )
    assert answer.status_code == 200
    tokens_only = catalog.cost_millicents("claude-sonnet-4-6", input_tokens=10, output_tokens=5)
    expected = tokens_only + 3 * catalog.SERVER_TOOL_PRICES["web_search_requests"]
    await wait_for(lambda: _spent(sessions, caller.user_id, expected), message="the searches priced")
    assert await ledger(sessions, caller.user_id) == []


async def _spent(sessions, user_id: uuid.UUID, expected: int) -> bool:
    return await llm_millicents(sessions, user_id) == expected


async def test_a_plain_call_whose_caller_hangs_up_before_the_answer_is_charged_exactly(proxy, sessions):
    proxy.standin.usage = {"input_tokens": 2_000, "output_tokens": 700}
    caller = await make_caller(proxy, sessions)
    proxy.standin.hold()
    pending = asyncio.create_task(call(proxy, caller, stream=False))
    await wait_for(lambda: len(proxy.standin.message_requests()) == 1, message="the call upstream")
    pending.cancel()  # the client closes its connection before any answer
    with pytest.raises(asyncio.CancelledError):
        await pending
    proxy.standin.release()
    (entry,) = await charged(sessions, caller.user_id, 1)
    assert entry.delta_millicents == -catalog.cost_millicents(
        "claude-sonnet-4-6", input_tokens=2_000, output_tokens=700
    )
    await settled(sessions, caller.user_id)


async def test_a_failed_call_gives_its_hold_back_and_spend_is_kept_per_model_and_purpose(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    proxy.standin.fail_next(529, "overloaded_error")
    assert (await call(proxy, caller)).status_code == 529
    assert (await call(proxy, caller, model="claude-haiku-4-5")).status_code == 200
    await charged(sessions, caller.user_id, 1)
    total, used, reserved, open_now = await settled(sessions, caller.user_id)
    assert used == catalog.cost_millicents("claude-haiku-4-5", input_tokens=10, output_tokens=5)
    async with sessions() as s:
        rows = (
            await s.execute(
                select(LlmSpendDaily.model, LlmSpendDaily.purpose, func.sum(LlmSpendDaily.calls))
                .where(LlmSpendDaily.user_id == caller.user_id, LlmSpendDaily.millicents > 0)
                .group_by(LlmSpendDaily.model, LlmSpendDaily.purpose)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("claude-haiku-4-5", "reply", 1)]


async def test_a_body_that_is_not_a_messages_request_is_refused_before_anything_is_held(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    for raw in (b"[1, 2]", b"{not json", json.dumps({"model": 5}).encode()):
        answer = await proxy.http.post(MESSAGES, content=raw, headers={**caller.headers, **VERSION})
        assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert await credit_figures(sessions, caller.user_id) == (100_000, 0, 0, 0)


async def test_background_routes_and_cron_sessions_are_kept_apart_and_charged_alike(proxy, sessions):
    caller = await make_caller(proxy, sessions)
    heartbeat = await proxy.http.post(
        "/llm/anthropic/bg/heartbeat/v1/messages", json=request_body(model="claude-haiku-4-5"), headers=caller.headers
    )
    assert heartbeat.status_code == 200
    models = await proxy.http.get("/llm/anthropic/bg/heartbeat/v1/models", headers=caller.headers)
    assert models.status_code == 200 and models.json()["data"]
    cron = request_body() | {"system": "Runtime: agent=main session=agent:main:cron:9f2e | os=linux"}
    assert (await proxy.http.post(MESSAGES, json=cron, headers=caller.headers)).status_code == 200
    assert (await call(proxy, caller)).status_code == 200
    await charged(sessions, caller.user_id, 3)
    await settled(sessions, caller.user_id)
    async with sessions() as s:
        rows = (
            await s.execute(
                select(LlmSpendDaily.purpose, LlmSpendDaily.model, LlmSpendDaily.millicents)
                .where(LlmSpendDaily.user_id == caller.user_id)
                .order_by(LlmSpendDaily.purpose)
            )
        ).all()
    sonnet = catalog.cost_millicents("claude-sonnet-4-6", input_tokens=10, output_tokens=5)
    haiku = catalog.cost_millicents("claude-haiku-4-5", input_tokens=10, output_tokens=5)
    assert [tuple(r) for r in rows] == [
        ("cron", "claude-sonnet-4-6", sonnet),
        ("heartbeat", "claude-haiku-4-5", haiku),
        ("reply", "claude-sonnet-4-6", sonnet),
    ]
