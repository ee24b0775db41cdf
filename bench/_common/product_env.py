"""The environment of a `yourclaw` subprocess a benchmark starts: this process's, minus every setting of the
product's (a developer's own would change what is measured), plus a development configuration of the
benchmark's own with fresh secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

DROPPED_PREFIXES = ("MOCK_", "SUPABASE_", "YOURCLAW_", "ANTHROPIC_", "TWILIO_", "STRIPE_", "RATE_LIMIT_", "WORKER_")
DROPPED_NAMES = ("DATABASE_URL", "ENCRYPTION_KEY", "DEV_JWT_SECRET", "API_URL", "APP_URL", "RUNTIME_API_URL")


def inherited_env() -> dict[str, str]:
    """This process's environment without the product's settings: for a stand-in, which needs none."""
    return {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES) and k not in DROPPED_NAMES}


def product_env(workdir: Path, database_url: str, api_url: str, log_level: str, **settings: str) -> dict[str, str]:
    """For `yourclaw serve` and `yourclaw worker`; ENCRYPTION_KEY in it is the one to seed tokens with."""
    env = inherited_env()
    env.update(
        YOURCLAW_ENV="development",
        YOURCLAW_STATE_DIR=str(workdir / "state"),
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEV_JWT_SECRET=secrets.token_urlsafe(32),
        API_URL=api_url,
        APP_URL=api_url,
        LOG_LEVEL=log_level,
        **settings,
    )
    return env
