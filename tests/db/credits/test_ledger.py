"""Pieces later capabilities build on: credits ledger, outbox, assistant tokens, key rotation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from yourclaw.cli.keys import rotate_all
from yourclaw.credits import repository as credits_repo
from yourclaw.db import channels
from yourclaw.db.models import ApiKey, Assistant, AssistantToken, Outbox, User, UserIntegration
from yourclaw.kit.crypto import SecretBox
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.protocol import tokens

pytestmark = pytest.mark.db


async def _user(db) -> uuid.UUID:
    user = User(id=uuid.uuid4(), email="x@example.com")
    db.add(user)
    await db.flush()
    return user.id


async def test_credits_grant_charge_and_decision(db):
    user_id = await _user(db)
    assert not (await credits_repo.spend_decision(db, user_id)).allowed
    assert await credits_repo.grant(db, user_id, 1_000_000, reference="invoice:in_1")
    assert not await credits_repo.grant(db, user_id, 1_000_000, reference="invoice:in_1")  # idempotent
    assert (await credits_repo.balance(db, user_id)).remaining_cents == 1000

    after = await credits_repo.charge(db, user_id, 1_800, reference="llm:req_1")
    assert after.used_millicents == 1_800 and after.remaining_cents == 998
    assert await credits_repo.charge(db, user_id, 1_800, reference="llm:req_1") is None  # charged once
    assert (await credits_repo.spend_decision(db, user_id)).allowed

    await credits_repo.charge(db, user_id, 2_000_000, reference="llm:req_2")
    decision = await credits_repo.spend_decision(db, user_id)
    assert not decision.allowed and decision.remaining_millicents == 0

    db.add(ApiKey(user_id=user_id, encrypted_key="x", key_hint="abcd"))
    await db.flush()
    decision = await credits_repo.spend_decision(db, user_id)
    assert decision.allowed and decision.own_key


async def test_period_reset_sets_the_allowance(db):
    user_id = await _user(db)
    await credits_repo.grant(db, user_id, 500_000, reference="g")
    await credits_repo.charge(db, user_id, 400_000, reference="c")
    assert await credits_repo.reset_period(db, user_id, 1_000_000, reference="period:2026-12")
    assert not await credits_repo.reset_period(db, user_id, 1_000_000, reference="period:2026-12")
    assert (await credits_repo.balance(db, user_id)).remaining_cents == 1000


async def test_concurrent_charges_are_all_counted(sessions):
    async with sessions() as db, db.begin():
        user_id = await _user(db)
        await credits_repo.grant(db, user_id, 1_000_000, reference="g")

    async def charge(i: int) -> None:
        async with sessions() as db, db.begin():
            await credits_repo.charge(db, user_id, 1_000, reference=f"llm:{i}")

    await asyncio.gather(*(charge(i) for i in range(20)))
    async with sessions() as db:
        assert (await credits_repo.balance(db, user_id)).used_millicents == 20_000
        await db.execute(User.__table__.delete().where(User.id == user_id))
        await db.commit()


async def test_outbox_dedupe_key_sends_a_notice_once(db):
    user_id = await _user(db)
    first = await enqueue_whatsapp(db, user_id, "Your assistant is ready! Say hi.", dedupe_key="ready:1")
    again = await enqueue_whatsapp(db, user_id, "Your assistant is ready! Say hi.", dedupe_key="ready:1")
    other = await enqueue_whatsapp(db, user_id, "Out of credits today", dedupe_key="credits:2026-11-25")
    plain = await enqueue_whatsapp(db, user_id, "hello", kind="reply")
    assert first and other and plain and again is None
    assert await db.scalar(select(func.count()).select_from(Outbox).where(Outbox.user_id == user_id)) == 3
    with pytest.raises(ValueError):
        await enqueue_whatsapp(db, user_id, "x", kind="marketing")


async def test_outbox_notifies_at_commit(database_url, sessions):
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(channels.OUTBOX, lambda *args: received.put_nowait(args[3]))
    try:
        async with sessions() as db:
            user_id = await _user(db)
            await enqueue_whatsapp(db, user_id, "hi")
            assert received.empty()  # nothing before commit
            await db.commit()
        assert await asyncio.wait_for(received.get(), 5) == str(user_id)
    finally:
        await conn.close()
        async with sessions() as db:
            await db.execute(User.__table__.delete().where(User.id == user_id))
            await db.commit()


async def test_assistant_tokens_issue_verify_rotate_revoke(db):
    box = SecretBox([Fernet.generate_key().decode()])
    user_id = await _user(db)
    assistant = Assistant(user_id=user_id, model="anthropic/claude-sonnet-5")
    db.add(assistant)
    await db.flush()

    first = await tokens.issue(db, box, user_id=user_id, assistant_id=assistant.id)
    owner = await tokens.verify_bearer(db, first)
    assert owner and owner.user_id == user_id and owner.current
    stored = await db.scalar(select(AssistantToken.token_hash).where(AssistantToken.assistant_id == assistant.id))
    assert stored != first and first not in stored  # only the hash is looked up

    second = await tokens.issue(db, box, user_id=user_id, assistant_id=assistant.id)
    assert await tokens.current_token(db, box, assistant.id) == second
    assert await tokens.verify_bearer(db, first)  # still valid until the rotation is confirmed
    now = datetime.now(UTC)
    assert await tokens.confirm_rotation(db, assistant.id, grace=timedelta(minutes=5), now=now) == 1
    assert await tokens.verify_bearer(db, first, now=now + timedelta(minutes=4))
    assert await tokens.verify_bearer(db, first, now=now + timedelta(minutes=6)) is None
    assert await tokens.verify_bearer(db, second, now=now + timedelta(days=30))

    await tokens.revoke_all(db, assistant.id)
    assert await tokens.verify_bearer(db, second) is None
    assert await tokens.verify_bearer(db, "yca_guess") is None
    assert await tokens.verify_bearer(db, "not-even-ours") is None


async def test_keys_rotate_keeps_every_secret_readable(db, sessions):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_box = SecretBox([old])
    user_id = await _user(db)
    assistant = Assistant(user_id=user_id, model="anthropic/claude-sonnet-5")
    db.add(assistant)
    await db.flush()
    token = await tokens.issue(db, old_box, user_id=user_id, assistant_id=assistant.id)
    db.add(ApiKey(user_id=user_id, encrypted_key=old_box.encrypt("sk-ant-user"), key_hint="user"))
    db.add(
        UserIntegration(
            user_id=user_id,
            service="GOOGLE_GMAIL",
            access_token_encrypted=old_box.encrypt("ya29.access"),
            refresh_token_encrypted=None,
        )
    )
    assistant_id = assistant.id
    await db.commit()

    counts = await rotate_all(sessions, SecretBox([new, old]))
    assert counts == {"assistant_tokens": 1, "api_keys": 1, "user_integrations": 1}

    new_only = SecretBox([new])
    db.expire_all()
    assert await tokens.current_token(db, new_only, assistant_id) == token
    key = await db.scalar(select(ApiKey.encrypted_key).where(ApiKey.user_id == user_id))
    assert new_only.decrypt(key) == "sk-ant-user"
    integration = await db.scalar(select(UserIntegration).where(UserIntegration.user_id == user_id))
    assert new_only.decrypt(integration.access_token_encrypted) == "ya29.access"
    assert integration.refresh_token_encrypted is None
