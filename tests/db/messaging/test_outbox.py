"""The outbox: a dedupe key sends a notice once, and a queued message notifies the sender at commit."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select

from tests.harness.rows import add_user
from yourclaw.db import channels
from yourclaw.db.models import Outbox, User
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp

pytestmark = pytest.mark.db


async def test_outbox_dedupe_key_sends_a_notice_once(db):
    user_id = await add_user(db)
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
            user_id = await add_user(db)
            await enqueue_whatsapp(db, user_id, "hi")
            assert received.empty()  # nothing before commit
            await db.commit()
        assert await asyncio.wait_for(received.get(), 5) == str(user_id)
    finally:
        await conn.close()
        async with sessions() as db:
            await db.execute(User.__table__.delete().where(User.id == user_id))
            await db.commit()
