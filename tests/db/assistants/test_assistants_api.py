"""The assistants API on the real app and PostgreSQL: desired state only, scoped to the signed-in user."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from tests.harness.app_lifespan import running
from tests.harness.rows import sign_in, subscribe
from tests.harness.settings import make_settings
from yourclaw.assistants import service
from yourclaw.db import channels
from yourclaw.db.models import Assistant, AssistantToken, CreditLedgerEntry, HostServer, Subscription
from yourclaw.kit.errors import NotFound
from yourclaw.llm import catalog
from yourclaw.protocol import tokens
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db

API = "/api/v1/assistants"
VIEW_KEYS = {"status", "phase", "model", "model_label", "created_at", "ready_at", "last_message_at", "reason"}


@pytest.fixture
async def live(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in the test's own event loop, so concurrent requests really overlap (the test
    client runs each request to completion on another thread). `db` empties the tables afterwards."""
    app = create_app(settings)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def _subscriber(client, sessions) -> tuple[dict[str, str], uuid.UUID]:
    headers, user_id = await sign_in(client)
    await subscribe(sessions, user_id)
    return headers, user_id


async def _row(sessions, user_id: uuid.UUID) -> Assistant | None:
    async with sessions() as s:
        return await s.scalar(select(Assistant).where(Assistant.user_id == user_id))


async def _tokens(sessions, user_id: uuid.UUID) -> list[AssistantToken]:
    async with sessions() as s:
        rows = await s.scalars(
            select(AssistantToken).where(AssistantToken.user_id == user_id).order_by(AssistantToken.created_at)
        )
        return list(rows)


async def _set(sessions, user_id: uuid.UUID, **values) -> None:
    async with sessions() as s:
        await s.execute(update(Assistant).where(Assistant.user_id == user_id).values(**values))
        await s.commit()


@pytest.fixture
async def notifications(database_url) -> AsyncIterator[asyncio.Queue[str]]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(channels.ASSISTANTS, lambda *args: received.put_nowait(args[3]))
    try:
        yield received
    finally:
        await conn.close()


async def test_starting_needs_an_active_subscription(client, sessions):
    headers, user_id = await sign_in(client)
    response = await client.post(API, headers=headers)
    assert response.status_code == 402
    assert response.json()["code"] == "SUBSCRIPTION_REQUIRED"

    await subscribe(sessions, user_id, status="CANCELED")
    response = await client.post(API, headers=headers)
    assert response.status_code == 402 and response.json()["code"] == "SUBSCRIPTION_REQUIRED"
    assert await _row(sessions, user_id) is None


async def test_mock_stripe_gives_no_free_subscription(database_url, db, sessions, tmp_path):
    """MOCK_STRIPE runs a local Stripe stand-in; it never makes a subscription nobody paid for."""
    settings = make_settings(database_url, MOCK_STRIPE="true", YOURCLAW_STATE_DIR=str(tmp_path))
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers, user_id = await sign_in(client)
        response = await client.post(API, headers=headers)
    assert response.status_code == 402 and response.json()["code"] == "SUBSCRIPTION_REQUIRED"
    async with sessions() as s:
        assert await s.scalar(select(Subscription).where(Subscription.user_id == user_id)) is None
        assert await s.scalar(select(CreditLedgerEntry).where(CreditLedgerEntry.user_id == user_id)) is None
    assert await _row(sessions, user_id) is None


async def test_an_unpaid_subscription_may_start_only_within_its_grace_period(client, sessions):
    headers, user_id = await sign_in(client)
    await subscribe(sessions, user_id, status="PAST_DUE")
    await _set_subscription(sessions, user_id, past_due_since=datetime.now(UTC) - timedelta(days=1))
    assert (await client.post(API, headers=headers)).status_code == 202

    await _set_subscription(sessions, user_id, past_due_since=datetime.now(UTC) - timedelta(days=8))
    response = await client.post(API, headers=headers, json={"recreate": True})
    assert response.status_code == 402 and response.json()["code"] == "SUBSCRIPTION_REQUIRED"


async def _set_subscription(sessions, user_id: uuid.UUID, **values) -> None:
    async with sessions() as s:
        await s.execute(update(Subscription).where(Subscription.user_id == user_id).values(**values))
        await s.commit()


async def test_start_creates_a_provisioning_assistant_with_one_token_and_notifies(client, sessions, notifications):
    headers, user_id = await _subscriber(client, sessions)
    response = await client.post(API, headers=headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == VIEW_KEYS
    assert body["status"] == "PROVISIONING" and body["phase"] == "placing"
    assert body["model"] == catalog.DEFAULT_MODEL and body["model_label"] == "Claude Sonnet 5"
    assert body["reason"] is None and body["created_at"]

    row = await _row(sessions, user_id)
    assert row.wanted and row.image is None and row.status == "PROVISIONING" and row.phase == "placing"
    issued = await _tokens(sessions, user_id)
    assert len(issued) == 1 and issued[0].current and issued[0].assistant_id == row.id
    assert await asyncio.wait_for(notifications.get(), 5) == str(user_id)


async def test_starting_again_leaves_a_working_assistant_alone(client, sessions):
    headers, user_id = await _subscriber(client, sessions)
    assert (await client.post(API, headers=headers)).status_code == 202
    # As the reconciler would leave it once the assistant is up.
    await _set(sessions, user_id, status="READY", phase="ready", container_id="c" * 64, attempts=2)
    before = await _row(sessions, user_id)

    again = await client.post(API, headers=headers, json={})
    assert again.status_code == 202
    assert again.json()["status"] == "READY" and again.json()["phase"] == "ready"
    after = await _row(sessions, user_id)
    assert after.id == before.id
    assert after.updated_at == before.updated_at
    assert (after.status, after.phase, after.container_id, after.attempts) == ("READY", "ready", "c" * 64, 2)
    assert after.recreate_requested_at is None
    assert len(await _tokens(sessions, user_id)) == 1


async def test_concurrent_starts_make_one_assistant(live, sessions):
    headers, user_id = await sign_in(live)
    await subscribe(sessions, user_id)
    responses = await asyncio.gather(*(live.post(API, headers=headers) for _ in range(10)))
    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    async with sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Assistant).where(Assistant.user_id == user_id))
    assert count == 1
    assert len(await _tokens(sessions, user_id)) == 1


async def test_recreate_asks_the_reconciler_to_start_afresh(client, sessions, notifications):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await notifications.get()
    await _set(sessions, user_id, status="READY", phase="ready", attempts=3, next_retry_at=datetime.now(UTC))

    response = await client.post(API, headers=headers, json={"recreate": True})
    assert response.status_code == 202
    assert response.json()["status"] == "PROVISIONING" and response.json()["phase"] == "placing"
    row = await _row(sessions, user_id)
    assert row.recreate_requested_at is not None
    assert row.attempts == 0 and row.next_retry_at is None
    assert len(await _tokens(sessions, user_id)) == 1  # the volume and the token survive a recreate
    assert await asyncio.wait_for(notifications.get(), 5) == str(user_id)


async def test_a_failed_assistant_is_provisioned_again(client, sessions):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await _set(
        sessions,
        user_id,
        status="ERROR",
        phase="failed",
        attempts=5,
        last_error="image missing on every host",
        phase_reason="We could not start your assistant.",
    )

    response = await client.post(API, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "PROVISIONING" and response.json()["reason"] is None
    row = await _row(sessions, user_id)
    assert row.recreate_requested_at is not None
    assert (row.status, row.phase, row.attempts, row.last_error, row.phase_reason) == (
        "PROVISIONING",
        "placing",
        0,
        None,
        None,
    )


async def test_view_without_an_assistant(client):
    headers, _ = await sign_in(client)
    response = await client.get(API, headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "status": "NONE",
        "phase": "none",
        "model": None,
        "model_label": None,
        "created_at": None,
        "ready_at": None,
        "last_message_at": None,
        "reason": None,
    }


async def test_view_explains_trouble_and_never_shows_host_container_or_token(client, sessions):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    async with sessions() as s:
        host = HostServer(name="host-secret-name", docker_url="tcp://10.1.2.3:2376")
        s.add(host)
        await s.flush()
        host_id = host.id
        await s.commit()
    await _set(
        sessions,
        user_id,
        host_server_id=host_id,
        container_id="deadbeef" * 8,
        container_spec_hash="f" * 64,
        config_hash="e" * 64,
    )
    provisioning = (await client.get(API, headers=headers)).json()
    assert provisioning["status"] == "PROVISIONING" and provisioning["reason"] is None

    await _set(sessions, user_id, status="ERROR", phase="failed", last_error="Out of capacity\ndetails for operators")
    failed = await client.get(API, headers=headers)
    assert failed.json()["status"] == "ERROR" and failed.json()["reason"] == "Out of capacity"

    await _set(sessions, user_id, status="READY", phase="crash_loop", phase_reason="It ran out of memory; restarting.")
    assert (await client.get(API, headers=headers)).json()["reason"] == "It ran out of memory; restarting."
    await _set(sessions, user_id, phase="disconnected", phase_reason=None, last_error=None)
    assert "checked in" in (await client.get(API, headers=headers)).json()["reason"]
    await _set(sessions, user_id, phase="ready")
    assert (await client.get(API, headers=headers)).json()["reason"] is None

    async with sessions() as s:
        row = await s.scalar(select(AssistantToken).where(AssistantToken.user_id == user_id))
        token = await tokens.current_token(s, client.app.state.app_state.secrets, row.assistant_id)
    text = (await client.get(API, headers=headers)).text
    assert set((await client.get(API, headers=headers)).json()) == VIEW_KEYS
    for secret in ("deadbeef", "10.1.2.3", "host-secret-name", str(host_id), "f" * 64, "e" * 64, token, row.token_hash):
        assert secret not in text


async def test_delete_revokes_tokens_and_is_idempotent(client, sessions, notifications):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await notifications.get()
    token_row = (await _tokens(sessions, user_id))[0]

    response = await client.delete(API, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "NONE" and response.json()["phase"] == "none"
    row = await _row(sessions, user_id)
    assert not row.wanted and row.deleted_at is not None and row.status == "NONE" and row.phase == "deleting"
    assert all(t.revoked_at is not None for t in await _tokens(sessions, user_id))
    async with sessions() as s:
        assert await s.scalar(select(AssistantToken.id).where(AssistantToken.id == token_row.id))
    assert await asyncio.wait_for(notifications.get(), 5) == str(user_id)

    assert (await client.get(API, headers=headers)).json()["status"] == "NONE"
    again = await client.delete(API, headers=headers)
    assert again.status_code == 202 and again.json()["status"] == "NONE"
    assert (await _row(sessions, user_id)).deleted_at == row.deleted_at

    nobody, _ = await sign_in(client)
    assert (await client.delete(API, headers=nobody)).status_code == 202


async def test_starting_after_delete_wants_it_again_with_a_new_token(client, sessions):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await client.delete(API, headers=headers)
    await _set(sessions, user_id, attempts=4, last_error="removed", next_retry_at=datetime.now(UTC))

    response = await client.post(API, headers=headers)
    assert response.status_code == 202 and response.json()["status"] == "PROVISIONING"
    row = await _row(sessions, user_id)
    assert row.wanted and row.deleted_at is None and row.phase == "placing"
    assert (row.attempts, row.last_error, row.next_retry_at) == (0, None, None)
    old, new = await _tokens(sessions, user_id)
    assert old.revoked_at is not None and not old.current
    assert new.revoked_at is None and new.current


async def test_change_model(client, sessions, notifications):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await notifications.get()

    response = await client.patch(API, headers=headers, json={"model": "anthropic/claude-haiku-4-5"})
    assert response.status_code == 202
    assert response.json()["model"] == "anthropic/claude-haiku-4-5"
    assert response.json()["model_label"] == "Claude Haiku 4.5"
    assert (await _row(sessions, user_id)).model == "anthropic/claude-haiku-4-5"
    assert await asyncio.wait_for(notifications.get(), 5) == str(user_id)
    # The change shows in the dashboard's recent activity, under the model's name.
    activity = (await client.get("/api/v1/activity", headers=headers)).json()["items"]
    assert [(i["kind"], i["preview"]) for i in activity if i["kind"] == "model_changed"] == [
        ("model_changed", "Claude Haiku 4.5")
    ]

    bad = await client.patch(API, headers=headers, json={"model": "openai/gpt-9"})
    assert bad.status_code == 422 and bad.json()["code"] == "UNKNOWN_MODEL"
    assert all(m.id in bad.json()["detail"] for m in catalog.MODELS)
    assert (await _row(sessions, user_id)).model == "anthropic/claude-haiku-4-5"

    await client.delete(API, headers=headers)
    gone = await client.patch(API, headers=headers, json={"model": catalog.DEFAULT_MODEL})
    assert gone.status_code == 404 and gone.json()["code"] == "NO_ASSISTANT"


async def test_change_model_without_an_assistant_is_404(client):
    headers, _ = await sign_in(client)
    response = await client.patch(API, headers=headers, json={"model": catalog.DEFAULT_MODEL})
    assert response.status_code == 404 and response.json()["code"] == "NO_ASSISTANT"


@pytest.mark.parametrize("body", [{"recreate": "yes"}, {"recreat": True}, [1]])
async def test_malformed_start_is_422(client, sessions, body):
    headers, user_id = await _subscriber(client, sessions)
    response = await client.post(API, headers=headers, json=body)
    assert response.status_code == 422 and response.json()["code"] == "VALIDATION_ERROR"
    assert await _row(sessions, user_id) is None


async def test_model_catalogue_needs_no_sign_in(client):
    response = await client.get(f"{API}/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["id"] for m in models] == [m.id for m in catalog.MODELS]
    assert [m["id"] for m in models if m["default"]] == [catalog.DEFAULT_MODEL]
    assert all(m["label"] and m["summary"] for m in models)


@pytest.mark.parametrize("method", ["get", "post", "delete", "patch"])
async def test_assistant_routes_need_sign_in(client, method):
    kwargs = {"json": {"model": catalog.DEFAULT_MODEL}} if method == "patch" else {}
    response = await getattr(client, method)(API, **kwargs)
    assert response.status_code == 401 and response.json()["code"] == "NOT_AUTHENTICATED"


async def test_users_only_see_and_change_their_own_assistant(client, sessions):
    headers_a, user_a = await _subscriber(client, sessions)
    headers_b, user_b = await _subscriber(client, sessions)
    await client.post(API, headers=headers_a)

    assert (await client.get(API, headers=headers_b)).json()["status"] == "NONE"
    patched = await client.patch(API, headers=headers_b, json={"model": "anthropic/claude-opus-5"})
    assert patched.status_code == 404
    assert (await client.delete(API, headers=headers_b)).status_code == 202

    row_a = await _row(sessions, user_a)
    assert row_a.wanted and row_a.model == catalog.DEFAULT_MODEL
    assert all(t.revoked_at is None for t in await _tokens(sessions, user_a))
    assert await _row(sessions, user_b) is None
    assert (await client.get(API, headers=headers_a)).json()["status"] == "PROVISIONING"


async def test_rotate_token_keeps_the_old_one_until_confirmed(client, sessions, notifications):
    headers, user_id = await _subscriber(client, sessions)
    await client.post(API, headers=headers)
    await notifications.get()
    box = client.app.state.app_state.secrets
    async with sessions() as s:
        assistant_id = (await s.scalar(select(Assistant).where(Assistant.user_id == user_id))).id
        old = await tokens.current_token(s, box, assistant_id)

    async with sessions() as s:
        await service.rotate_token(s, box, user_id)
        await s.commit()
    assert await asyncio.wait_for(notifications.get(), 5) == str(user_id)

    async with sessions() as s:
        new = await tokens.current_token(s, box, assistant_id)
        assert new != old
        assert (await tokens.verify_bearer(s, old)).current is False
        assert (await tokens.verify_bearer(s, new)).current is True

    await client.delete(API, headers=headers)
    async with sessions() as s:
        with pytest.raises(NotFound) as failure:
            await service.rotate_token(s, box, user_id)
    assert failure.value.code == "NO_ASSISTANT"
