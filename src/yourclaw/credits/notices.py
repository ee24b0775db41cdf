"""What we say about credits on WhatsApp, and the keys that make each notice go once: "your message went
nowhere, you are out of credits" once a day per user (the router refusing a message), "running low" (80 %
used) and "used up" (the LLM proxy refusing a call for want of credit) once each per billing period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def _site(app_url: str) -> str:
    return app_url.rstrip("/")


def no_credits_key(user_id: uuid.UUID, at: datetime) -> str:
    return f"no-credits:{user_id}:{at.astimezone(UTC).date().isoformat()}"


def low_credits_key(user_id: uuid.UUID, period: str) -> str:
    return f"low-credits:{user_id}:{period}"


def used_up_key(user_id: uuid.UUID, period: str) -> str:
    return f"used-up:{user_id}:{period}"


def no_credits(app_url: str) -> str:
    return (
        "Your assistant is out of credits, so it didn't get this message. "
        f"Add credits or your own API key at {_site(app_url)}."
    )


def llm_out_of_credits(app_url: str) -> str:
    """From the LLM proxy: the period's credits are used up, so the assistant cannot think until they
    renew, or until the user adds their own key."""
    return (
        "Your assistant has used all of this period's credits, so it can't think or answer until they renew. "
        f"To keep it going now, add your own Anthropic API key at {_site(app_url)}/dashboard#account."
    )


def low_credits(app_url: str, remaining_cents: int) -> str:
    return (
        f"Heads up: your assistant has ${remaining_cents / 100:.2f} of credits left for this billing period. "
        f"When they run out it stops answering until they renew; you can add your own Anthropic API key at "
        f"{_site(app_url)} to keep it going."
    )
