"""What every `yourclaw` command shares: settings, the database (embedded when DATABASE_URL is unset),
migrations, the production guard and the event loop."""

from __future__ import annotations

import asyncio
import sys

import msgspec
import structlog

from yourclaw.kit.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("yourclaw")


def fail(message: str, code: int = 2) -> None:
    print(f"yourclaw: {message}", file=sys.stderr)
    raise SystemExit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
        raise  # unreachable


class Database:
    """Resolves DATABASE_URL, starting the embedded PostgreSQL when it is unset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedded = None

    def __enter__(self) -> Settings:
        if self.settings.database_url:
            return self.settings
        from yourclaw.db.embedded import EmbeddedPostgres

        self._embedded = EmbeddedPostgres(self.settings.state_dir / "pg")
        url = self._embedded.start()
        return msgspec.structs.replace(self.settings, database_url=url)

    def __exit__(self, *exc: object) -> None:
        if self._embedded is not None:
            self._embedded.stop()


def migrate(settings: Settings) -> None:
    from yourclaw.db import migrations

    migrations.upgrade(settings.database_url or "")
    log.info("database_migrated")


def refuse_dev_modes_in_production(settings: Settings) -> None:
    modes = settings.dev_modes()
    if modes and not settings.is_development:
        fail(
            "refusing to start: "
            + ", ".join(modes)
            + " would be on in production; configure the real services, or set YOURCLAW_ENV=development"
        )


def run(main):
    """The event loop of a long-running command (uvloop)."""
    from yourclaw.server import process

    return process.run(main)


def run_db(settings: Settings, work):
    """One transaction's `work(session, settings)` for a one-shot command, on a small pool of its own."""

    async def in_transaction(resolved: Settings):
        from yourclaw.db.engine import make_engine, make_sessionmaker, transaction

        engine = make_engine(resolved.database_url or "", pool_size=2)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return await work(session, resolved)
        finally:
            await engine.dispose()

    with Database(settings) as resolved:
        return asyncio.run(in_transaction(resolved))
