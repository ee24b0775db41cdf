"""The web search proxy on the real app and PostgreSQL, against the Brave stand-in: the assistant token as
Brave's subscription token, the shared key added, each query charged and counted, the daily cap, no credits,
and an upstream failure that costs nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.harness.assistant_protocol import Owner, Served, make_owner, serve
from tests.harness.settings import make_settings
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import Assistant, CreditLedgerEntry, CreditReservation, ServiceUsageDaily, UserCredits
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.standins.brave import BraveStandin, Result

pytestmark = pytest.mark.db

SEARCH = "/search/brave/res/v1/web/search"
PRICE = 500
CAP = 3


@pytest.fixture
def brave() -> Iterator[BraveStandin]:
    standin = BraveStandin()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
async def served(database_url, db, brave) -> AsyncIterator[Served]:
    settings = make_settings(
        database_url,
        BRAVE_SEARCH_API_KEY=brave.api_key,
        BRAVE_SEARCH_BASE_URL=brave.base_url,
        SEARCH_PRICE_MILLICENTS=str(PRICE),
        SEARCH_QUERIES_PER_DAY=str(CAP),
    )
    async with serve(settings) as served:
        yield served


async def funded(sessions, millicents: int = 100_000) -> Owner:
    owner = await make_owner(sessions)
    async with sessions() as s:
        await credits_repo.grant(s, owner.user_id, millicents, reference=f"grant-{uuid.uuid4()}")
        await s.commit()
    return owner


def brave_headers(owner: Owner) -> dict[str, str]:
    """What OpenClaw's Brave provider sends: its configured API key (the assistant token) as the subscription token."""
    return {"X-Subscription-Token": owner.token, "Accept": "application/json"}


async def used(sessions, user_id) -> tuple[int, int, int]:
    async with sessions() as s:
        credits = await s.scalar(select(UserCredits).where(UserCredits.user_id == user_id))
        open_holds = len((await s.scalars(select(CreditReservation).where(CreditReservation.user_id == user_id))).all())
        return credits.used_millicents, credits.reserved_millicents, open_holds


async def test_a_query_reaches_brave_with_the_shared_key_and_is_charged_once(served, sessions, brave):
    alice = await funded(sessions)
    brave.answer("weather in lisbon", [Result("Lisbon forecast", "https://weather.example/lisbon", "Sunny, 21°C")])
    response = await served.http.get(
        SEARCH, params={"q": "weather in lisbon", "count": "5"}, headers=brave_headers(alice)
    )
    assert response.status_code == 200, response.text
    assert response.json()["web"]["results"][0]["title"] == "Lisbon forecast"
    assert brave.queries == ["weather in lisbon"]
    assert await used(sessions, alice.user_id) == (PRICE, 0, 0)
    async with sessions() as s:
        ledger = (await s.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.reason == "SEARCH"))).all()
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == alice.user_id))
    assert [(e.user_id, e.delta_millicents) for e in ledger] == [(alice.user_id, -PRICE)]
    assert (day.service, day.calls, day.units, day.millicents) == ("search", 1, 1, PRICE)


async def test_only_an_assistant_token_searches(served, brave):
    for headers in ({}, {"X-Subscription-Token": "yca_not-a-token"}, {"X-Subscription-Token": brave.api_key}):
        response = await served.http.get(SEARCH, params={"q": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_ASSISTANT_TOKEN"
    assert brave.queries == []


async def test_the_daily_cap_holds_with_a_clear_message_and_charges_nothing_more(served, sessions, brave):
    alice = await funded(sessions)
    for n in range(CAP):
        ok = await served.http.get(SEARCH, params={"q": f"q{n}"}, headers=brave_headers(alice))
        assert ok.status_code == 200
    capped = await served.http.get(SEARCH, params={"q": "one more"}, headers=brave_headers(alice))
    assert capped.status_code == 429
    assert capped.json()["code"] == "DAILY_CAP_REACHED"
    assert f"{CAP} web searches" in capped.json()["detail"]
    assert len(brave.queries) == CAP
    assert await used(sessions, alice.user_id) == (CAP * PRICE, 0, 0)
    # Another user has their own day.
    bob = await funded(sessions)
    assert (await served.http.get(SEARCH, params={"q": "bob"}, headers=brave_headers(bob))).status_code == 200


async def test_without_credits_nothing_is_searched(served, sessions, brave):
    poor = await funded(sessions, millicents=PRICE - 1)
    response = await served.http.get(SEARCH, params={"q": "anything"}, headers=brave_headers(poor))
    assert response.status_code == 402
    assert response.json()["code"] == "NO_CREDITS"
    assert brave.queries == []
    assert await used(sessions, poor.user_id) == (0, 0, 0)
    async with sessions() as s:  # the refused query does not count against the day
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == poor.user_id))
    assert day is None or day.units == 0


async def test_an_upstream_failure_costs_nothing_and_does_not_count(served, sessions, brave):
    alice = await funded(sessions)
    brave.fail_next()
    failed = await served.http.get(SEARCH, params={"q": "flaky"}, headers=brave_headers(alice))
    assert failed.status_code == 503
    assert failed.json()["code"] == "UPSTREAM_FAILED"
    assert await used(sessions, alice.user_id) == (0, 0, 0)
    async with sessions() as s:
        day = await s.scalar(select(ServiceUsageDaily).where(ServiceUsageDaily.user_id == alice.user_id))
    assert (day.calls, day.units, day.millicents) == (0, 0, 0)


@pytest.mark.parametrize("query", ["", "   ", "x" * 401, " ".join(["w"] * 51)])
async def test_a_bad_query_is_refused_before_anything_is_held(served, sessions, brave, query):
    alice = await funded(sessions)
    response = await served.http.get(SEARCH, params={"q": query}, headers=brave_headers(alice))
    assert response.status_code == 422 and response.json()["code"] == "INVALID_QUERY"
    assert brave.queries == []


async def test_with_no_search_key_search_is_unavailable(database_url, db, sessions):
    async with serve(make_settings(database_url, YOURCLAW_ENV="production")) as served:
        alice = await funded(sessions)
        response = await served.http.get(SEARCH, params={"q": "x"}, headers=brave_headers(alice))
        assert response.status_code == 503 and response.json()["code"] == "SEARCH_NOT_CONFIGURED"


async def test_searches_show_in_the_users_usage(served, sessions, brave):
    login = (await served.http.post("/api/v1/dev/login", json={"email": "senses@example.com"})).json()
    user_id = uuid.UUID(login["user_id"])
    signed_in = {"Authorization": f"Bearer {login['access_token']}"}
    assert (await served.http.get("/api/v1/users/me", headers=signed_in)).status_code == 200  # the user's row
    async with sessions() as s:  # the signed-in user's assistant, with its token
        assistant = Assistant(user_id=user_id, model=catalog.DEFAULT_MODEL, status="READY", phase="ready")
        s.add(assistant)
        await s.flush()
        token = await tokens.issue(
            s, SecretBox([Fernet.generate_key().decode()]), user_id=user_id, assistant_id=assistant.id
        )
        await credits_repo.grant(s, user_id, 100_000, reference=f"grant-{uuid.uuid4()}")
        await s.commit()
    alice = Owner(user_id, assistant.id, token)
    for query in ("one", "two"):
        assert (await served.http.get(SEARCH, params={"q": query}, headers=brave_headers(alice))).status_code == 200
    usage = await served.http.get("/api/v1/usage", headers=signed_in)
    assert usage.status_code == 200, usage.text
    body = usage.json()
    (row,) = body["senses"]
    assert (row["service"], row["calls"], row["units"], row["millicents"]) == ("search", 2, 2, 2 * PRICE)
    assert body["sense_limits"]["search_queries_per_day"] == CAP
    assert body["credits"]["remaining_cents"] == (100_000 - 2 * PRICE) // 1000
