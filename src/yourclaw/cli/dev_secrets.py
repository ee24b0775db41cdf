"""`yourclaw dev` generates the secrets it needs and keeps them in its state directory, so signed
webhooks, tokens and encrypted rows keep working from one run to the next with the same code paths."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

GENERATED = {
    "DEV_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
    "TWILIO_AUTH_TOKEN": lambda: secrets.token_hex(16),
    "STRIPE_WEBHOOK_SECRET": lambda: "whsec_" + secrets.token_urlsafe(32),
}


def load_or_create(state_dir: Path) -> dict[str, str]:
    path = state_dir / "dev-secrets.json"
    stored: dict[str, str] = {}
    if path.is_file():
        stored = json.loads(path.read_text())
    changed = False
    for name, make in GENERATED.items():
        if not stored.get(name):
            stored[name] = make()
            changed = True
    if changed:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(stored, f, indent=2)
        os.replace(tmp, path)
    return stored


def apply_to_environment(state_dir: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Fill every unset secret from the stored ones; returns the names it filled."""
    env = os.environ if environ is None else environ
    filled = []
    for name, value in load_or_create(state_dir).items():
        if not env.get(name):
            env[name] = value
            filled.append(name)
    return filled
