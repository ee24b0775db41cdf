"""`yourclaw keys rotate`: every secret at rest is encrypted again under the new key and stays readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.harness.rows import add_user
from yourclaw.cli.keys import rotate_all
from yourclaw.db.models import ApiKey, Assistant, OAuthState, UserIntegration
from yourclaw.kit.crypto import SecretBox
from yourclaw.protocol import tokens

pytestmark = pytest.mark.db


async def test_keys_rotate_keeps_every_secret_readable(db, sessions):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_box = SecretBox([old])
    user_id = await add_user(db)
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
    db.add(
        OAuthState(
            state_hash="s" * 64,
            user_id=user_id,
            service="GOOGLE_CALENDAR",
            code_verifier_encrypted=old_box.encrypt("pkce-verifier"),
            expires_at=datetime.now(UTC) + timedelta(minutes=10),
        )
    )
    assistant_id = assistant.id
    await db.commit()

    counts = await rotate_all(sessions, SecretBox([new, old]))
    assert counts == {"assistant_tokens": 1, "api_keys": 1, "user_integrations": 1, "oauth_states": 1}

    new_only = SecretBox([new])
    db.expire_all()
    assert await tokens.current_token(db, new_only, assistant_id) == token
    key = await db.scalar(select(ApiKey.encrypted_key).where(ApiKey.user_id == user_id))
    assert new_only.decrypt(key) == "sk-ant-user"
    integration = await db.scalar(select(UserIntegration).where(UserIntegration.user_id == user_id))
    assert new_only.decrypt(integration.access_token_encrypted) == "ya29.access"
    assert integration.refresh_token_encrypted is None
    verifier = await db.scalar(select(OAuthState.code_verifier_encrypted).where(OAuthState.user_id == user_id))
    assert new_only.decrypt(verifier) == "pkce-verifier"
