"""The rows part 1 and part 2 need, inserted directly: verified senders, and users with READY assistants, their
tokens, credit and each one's `openclaw.json`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from yourclaw.credits import repository as credits_repo
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
from yourclaw.db.models import Assistant, User, UserPhone
from yourclaw.kit.crypto import SecretBox
from yourclaw.llm.catalog import DEFAULT_MODEL
from yourclaw.protocol import tokens
from yourclaw.runtime import openclaw_config


def phone_of(group: int, n: int) -> str:
    return f"+1555{group:02d}{n:05d}"


@dataclass
class Seeded:
    sender_phones: list[str]
    busy: tuple[uuid.UUID, str, Path]  # user id, phone, config path
    idle: list[Path]


async def seed(database_url: str, keys: str, api_url: str, workdir: Path, numbers: int, idle: int) -> Seeded:
    engine = make_engine(database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    box = SecretBox([keys])
    now = datetime.now(UTC)
    try:
        # Part 1's senders: verified numbers, so each webhook also opens the user's 24-hour window (an UPDATE
        # and a NOTIFY to the sender), as most real traffic would.
        senders = [(uuid.uuid4(), phone_of(10, i)) for i in range(numbers)]
        async with transaction(sessions) as s:
            await s.execute(
                insert(User), [{"id": u, "email": f"sender{i}@bench.invalid"} for i, (u, _) in enumerate(senders)]
            )
            await s.execute(
                insert(UserPhone),
                [{"user_id": u, "phone_e164": p, "verified_at": now, "last_inbound_at": now} for u, p in senders],
            )
        configs: list[tuple[uuid.UUID, str, Path]] = []
        async with transaction(sessions) as s:
            for i in range(idle + 1):
                user_id, phone = uuid.uuid4(), phone_of(20, i)
                s.add(User(id=user_id, email=f"assistant{i}@bench.invalid"))
                s.add(UserPhone(user_id=user_id, phone_e164=phone, verified_at=now, last_inbound_at=now))
                await s.flush()
                row = Assistant(
                    user_id=user_id,
                    model=DEFAULT_MODEL,
                    status="READY",
                    phase="ready",
                    desired_generation=1,
                    written_generation=1,
                    observed_generation=1,
                    ready_at=now,
                )
                s.add(row)
                await s.flush()
                token = await tokens.issue(s, box, user_id=user_id, assistant_id=row.id)
                await credits_repo.grant(s, user_id, 10**9, reference="bench-webhook")
                config = openclaw_config.render(
                    user_id=user_id, model=DEFAULT_MODEL, token=token, api_url=api_url, generation=1
                )
                home = workdir / "assistants" / f"a{i:03d}"
                home.mkdir(parents=True)
                path = home / "openclaw.json"
                path.write_bytes(openclaw_config.config_bytes(config))
                path.chmod(0o600)
                configs.append((user_id, phone, path))
        busy = configs[0]
        return Seeded([p for _, p in senders], busy, [c[2] for c in configs[1:]])
    finally:
        await engine.dispose()
