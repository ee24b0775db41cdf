"""`yourclaw keys rotate`: re-encrypt every stored secret with the first ENCRYPTION_KEY, so an old key
can then be dropped from the list."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import ApiKey, AssistantToken, OAuthState, UserIntegration
from yourclaw.kit.crypto import SecretBox

# Every encrypted column in the schema; a new one must be added here or rotation would leave it behind.
ENCRYPTED_COLUMNS = (
    (AssistantToken, ("token_encrypted",)),
    (ApiKey, ("encrypted_key",)),
    (UserIntegration, ("access_token_encrypted", "refresh_token_encrypted")),
    # A consent under way: its PKCE verifier (minutes old at most, but an old key must not strand it).
    (OAuthState, ("code_verifier_encrypted",)),
)
BATCH = 500


async def rotate_all(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> dict[str, int]:
    """Batches commit one by one, so a long rotation holds no long lock and can be re-run safely
    (re-encrypting a value already under the first key is harmless)."""
    counts: dict[str, int] = {}
    for model, columns in ENCRYPTED_COLUMNS:
        done = 0
        last_id = None
        key = model.__mapper__.primary_key[0]
        while True:
            async with sessions() as session, session.begin():
                query = select(key, *(getattr(model, c) for c in columns)).order_by(key).limit(BATCH)
                if last_id is not None:
                    query = query.where(key > last_id)
                rows = (await session.execute(query.with_for_update())).all()
                for row in rows:
                    values = {
                        column: box.rotate(value)
                        for column, value in zip(columns, row[1:], strict=True)
                        if value is not None
                    }
                    if values:
                        await session.execute(update(model).where(key == row[0]).values(**values))
                        done += 1
            if len(rows) < BATCH:
                break
            last_id = rows[-1][0]
        counts[model.__tablename__] = done
    return counts
