"""`/metrics` scraped around a journey on `yourclaw dev` (a child process: the API, the worker and the
reconciler in one, on the stand-in runtime): sign in, verify the number, pay, wait for READY, chat. Every
family the journey exercises moves; the bearer token guards the endpoint."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness.dev_journey import Newcomer
from tests.harness.dev_server import running_dev_server
from tests.harness.scrape import parse, value
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.db

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def dev(database_url):
    # A short sample period, so the queue gauges are counted within the test.
    with running_dev_server(database_url, "metrics-journey", METRICS_TOKEN=TOKEN, METRICS_SAMPLE_SECONDS="0.5") as s:
        yield s


async def _scrape(client: httpx.AsyncClient):
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def test_metrics_move_through_a_journey(dev):
    async with httpx.AsyncClient(base_url=dev.url, timeout=15) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401 and refused.json()["code"] == "METRICS_TOKEN_REQUIRED"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        before = await _scrape(client)

        newcomer = Newcomer(client, "metrics@example.com")
        await newcomer.sign_in()
        await newcomer.verify_and_pay()
        await newcomer.chat("hello there")

        async def sampled():
            after = await _scrape(client)
            return after if value(after, "yourclaw_hosts", state="reachable") >= 1 else None

        after = await wait_for(sampled, timeout=30, message="the fleet gauges")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("yourclaw_webhook_seconds_count", hook="twilio_whatsapp") >= 2
    assert moved("yourclaw_webhook_seconds_count", hook="stripe") >= 1
    assert moved("yourclaw_router_lag_seconds_count") >= 2
    assert moved("yourclaw_reconcile_pass_seconds_count") >= 1
    assert moved("yourclaw_reconcile_actions_total", outcome="ok") >= 1
    assert value(after, "yourclaw_assistants", phase="ready") == 1
    assert moved("yourclaw_llm_calls_total") >= 1
    assert moved("yourclaw_llm_tokens_total", kind="output") > 0
    assert moved("yourclaw_llm_cost_cents_total") > 0
    # The queues drained: the gauges are there and read nothing waiting.
    assert ("yourclaw_inbound_queue_depth", frozenset({("stage", "routing")})) in after
    assert value(after, "yourclaw_sender_lag_seconds") < 60
    # No label carries a phone number or a message's text.
    assert not any(re.search(r"\+?1415555|hello there", str(labels)) for _, labels in after)
