"""`/metrics` scraped around a journey on `yourclaw dev` (a child process: the API, the worker and the
reconciler in one, on the stand-in runtime): sign in, verify the number, pay, wait for READY, chat. Every
family the journey exercises moves; the bearer token guards the endpoint."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness.dev_server import running_dev_server
from tests.harness.scrape import parse, value
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.db

TOKEN = "metrics-token-for-tests"
PHONE = "+14155552671"


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

        token = (await client.post("/api/v1/dev/login", json={"email": "metrics@example.com"})).json()["access_token"]
        csrf = (await client.post("/api/v1/session", json={"access_token": token})).json()["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        phone = (await client.post("/api/v1/users/me/phone", json={"phone": PHONE}, headers=headers)).json()

        async def whatsapp(text: str) -> None:
            sent = await client.post("/api/v1/dev/simulator/messages", json={"text": text}, headers=headers)
            assert sent.status_code == 202, sent.text

        await whatsapp(phone["verification"]["message"])

        async def verified() -> bool:
            me = (await client.get("/api/v1/users/me")).json()
            return bool((me.get("phone") or {}).get("verified"))

        await wait_for(verified, timeout=30, message="the number verified")
        checkout = (await client.post("/api/v1/checkout", headers=headers)).json()["checkout_url"]
        paid = await client.post(checkout + "/pay")
        assert paid.status_code < 400, paid.text

        async def ready() -> bool:
            listed = (await client.get("/api/v1/assistants")).json()
            return any(a.get("status") == "READY" for a in (listed if isinstance(listed, list) else [listed]))

        await wait_for(ready, timeout=60, message="the assistant READY")
        await whatsapp("hello there")

        async def answered() -> bool:
            page = (await client.get("/api/v1/messages")).json()["messages"]
            return any(m["direction"] == "OUTBOUND" and "hello there" in m["body"] for m in page)

        await wait_for(answered, timeout=60, message="the assistant's answer")

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
