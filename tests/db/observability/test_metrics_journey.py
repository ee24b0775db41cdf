"""`/metrics` scraped around a journey on `yourclaw dev` (a child process: the API, the worker and the
reconciler in one, on the stand-in runtime, backups into a real S3 API): sign in, verify the number, pay, wait
for READY, chat, run out of credits; and a second person whose number Twilio refuses to send to. Every family
moves; the bearer token guards the endpoint."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.harness.dev_journey import Newcomer
from tests.harness.dev_server import running_dev_server
from tests.harness.scrape import parse, value
from tests.harness.waiting import wait_for
from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import transaction
from yourclaw.standins.twilio_http import MAGIC_RECIPIENTS

pytestmark = pytest.mark.db

TOKEN = "metrics-token-for-tests"


UNSUBSCRIBED = "+15005550004"  # Twilio's test recipient that has unsubscribed: every send to it gets 21610


@pytest.fixture
def dev(database_url, s3):
    # A short sample period, so the queue gauges are counted within the test.
    settings = {"METRICS_TOKEN": TOKEN, "METRICS_SAMPLE_SECONDS": "0.5", **s3.settings()}
    with running_dev_server(database_url, "metrics-journey", **settings) as s:
        yield s


async def _scrape(client: httpx.AsyncClient):
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def _use_up_credits(sessions, user_id: str) -> None:
    """What a month of conversations does: the period's credits all spent."""
    async with transaction(sessions) as session:
        left = (await credits_repo.balance(session, uuid.UUID(user_id))).remaining_millicents
        await credits_repo.charge(session, uuid.UUID(user_id), left, reference="metrics-journey-month")


async def test_metrics_move_through_a_journey(dev, sessions):
    async with (
        httpx.AsyncClient(base_url=dev.url, timeout=15) as client,
        httpx.AsyncClient(base_url=dev.url, timeout=15) as other,
    ):
        refused = await client.get("/metrics")
        assert refused.status_code == 401 and refused.json()["code"] == "METRICS_TOKEN_REQUIRED"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        before = await _scrape(client)

        newcomer = Newcomer(client, "metrics@example.com")
        await newcomer.sign_in()
        await newcomer.verify_and_pay()
        await newcomer.chat("hello there")
        await _use_up_credits(sessions, (await client.get("/api/v1/users/me")).json()["id"])
        await newcomer.whatsapp("one more question")  # refused: no credits left

        # Twilio refuses the answer to this number's "link" message (its confirmation).
        assert MAGIC_RECIPIENTS[UNSUBSCRIBED][0] == 21610
        unreachable = Newcomer(other, "unsubscribed@example.com", phone=UNSUBSCRIBED)
        await unreachable.sign_in()
        await unreachable.verify()

        async def sampled():
            after = await _scrape(client)
            moved_all = (
                value(after, "yourclaw_hosts", state="reachable") >= 1
                and value(after, "yourclaw_credit_refusals_total", where="router")
                > value(before, "yourclaw_credit_refusals_total", where="router")
                and value(after, "yourclaw_twilio_send_errors_total", code="21610")
                > value(before, "yourclaw_twilio_send_errors_total", code="21610")
                and value(after, "yourclaw_backups_total", outcome="ok")
                > value(before, "yourclaw_backups_total", outcome="ok")
            )
            return after if moved_all else None

        after = await wait_for(sampled, timeout=60, message="the fleet gauges, the refusals and a backup")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("yourclaw_webhook_seconds_count", hook="twilio_whatsapp") >= 4
    assert moved("yourclaw_webhook_seconds_count", hook="stripe") >= 1
    assert moved("yourclaw_router_lag_seconds_count") >= 4
    assert moved("yourclaw_reconcile_pass_seconds_count") >= 1
    assert moved("yourclaw_reconcile_actions_total", outcome="ok") >= 1
    assert value(after, "yourclaw_assistants", phase="ready") == 1
    assert moved("yourclaw_llm_calls_total") >= 1
    assert moved("yourclaw_llm_tokens_total", kind="output") > 0
    assert moved("yourclaw_llm_cost_cents_total") > 0
    assert moved("yourclaw_credit_refusals_total", where="router") == 1
    assert moved("yourclaw_twilio_send_errors_total", code="21610") >= 1
    assert moved("yourclaw_backup_seconds_count") >= 1 and moved("yourclaw_backup_bytes_total") > 0
    assert moved("yourclaw_backups_total", outcome="failed") == 0
    # The queues drained: the gauges are there and read nothing waiting.
    for stage in ("routing", "assistant"):
        assert ("yourclaw_inbound_queue_depth", frozenset({("stage", stage)})) in after
        assert ("yourclaw_inbound_queue_oldest_seconds", frozenset({("stage", stage)})) in after
    assert ("yourclaw_outbox_due", frozenset()) in after
    assert value(after, "yourclaw_sender_lag_seconds") < 60
    # No label carries a phone number or a message's text.
    assert not any(
        re.search(r"\+?1415555|5005550004|hello there|one more question", str(labels)) for _, labels in after
    )
