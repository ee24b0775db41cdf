"""Settings for a test: development defaults with a fresh encryption key, on the tests' database."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from tests.harness.log_scan import SCAN
from yourclaw.kit.settings import Settings, load_settings

DEV_SECRET = "test-dev-secret-" + "x" * 40
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {
        "YOURCLAW_ENV": "development",
        "DATABASE_URL": database_url,
        "DEV_JWT_SECRET": DEV_SECRET,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "API_URL": "http://127.0.0.1:8000",
        "APP_URL": "http://127.0.0.1:3000",
        "TWILIO_WHATSAPP_NUMBER": "whatsapp:+14155238886",
    }
    env.update(overrides)
    for name in ("DEV_JWT_SECRET", "ENCRYPTION_KEY", "TWILIO_AUTH_TOKEN", "STRIPE_SECRET_KEY", "ANTHROPIC_API_KEY"):
        SCAN.register(env.get(name), name)
    return load_settings(env)
