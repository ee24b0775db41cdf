"""Running the Alembic migrations from code (the CLI, `yourclaw dev`, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(database_url: str | None = None) -> Config:
    ini = PROJECT_ROOT / "alembic.ini"
    if not ini.is_file():
        ini = Path.cwd() / "alembic.ini"
    config = Config(str(ini))
    if database_url:
        config.attributes["url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking (Alembic's env runs its own event loop): call it outside a running loop or in a thread."""
    command.upgrade(alembic_config(database_url), revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
