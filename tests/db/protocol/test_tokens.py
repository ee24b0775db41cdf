"""Assistant tokens: issued, looked up by hash only, rotated with a grace period, revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.harness.rows import add_user
from yourclaw.db.models import Assistant, AssistantToken
from yourclaw.kit.crypto import SecretBox
from yourclaw.protocol import tokens

pytestmark = pytest.mark.db


async def test_assistant_tokens_issue_verify_rotate_revoke(db):
    box = SecretBox([Fernet.generate_key().decode()])
    user_id = await add_user(db)
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
