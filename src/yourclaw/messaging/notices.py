"""What we say on WhatsApp when a message cannot simply go to the assistant. Short, friendly, and
always telling the person what happened to their message and what to do next."""

from __future__ import annotations

import math
from datetime import datetime, tzinfo


def _site(app_url: str) -> str:
    return app_url.rstrip("/")


def linked() -> str:
    return "You're all set: this number is now linked to YourClaw. Write here any time to talk to your assistant."


def already_linked() -> str:
    return "This number is already linked to your account. Just write here to talk to your assistant."


def wrong_code(app_url: str) -> str:
    return f"That code doesn't match this number. Open {_site(app_url)} to get a fresh link."


def expired_code(app_url: str) -> str:
    return f"That code has expired. Open {_site(app_url)} to get a new one."


def phone_taken() -> str:
    return (
        "This number is already linked to another YourClaw account, so it can't be linked again. "
        "If that's not right, contact support."
    )


def sign_up(app_url: str) -> str:
    return (
        "Hi! This number isn't linked to a YourClaw account yet. "
        f"Sign up at {_site(app_url)} to get your own assistant on WhatsApp."
    )


def once_a_day() -> str:
    """Said to a number with no account: its one answer of the day."""
    return "(We answer a number without an account once a day.)"


def stopped() -> str:
    return (
        "Done: your assistant won't message you first any more. It still answers when you write. "
        "Send START to turn its messages back on."
    )


def started() -> str:
    return "Welcome back: your assistant can message you again."


def no_assistant(app_url: str) -> str:
    return f"You don't have an assistant yet, so this message went nowhere. Set one up at {_site(app_url)}."


def provisioning() -> str:
    return (
        "Your assistant is still being set up, so it didn't get this message. "
        "It will tell you here when it's ready; send it again then."
    )


def assistant_error(app_url: str) -> str:
    return f"Your assistant couldn't be started, so it didn't get this message. Open {_site(app_url)} to try again."


def humanize_wait(seconds: float) -> str:
    """Rounded up, so nobody writes back a moment too early."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(seconds / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def rate_limited(window: str, limit: int, wait_seconds: float) -> str:
    per = "a minute" if window == "minute" else "a day"
    return (
        f"You've reached the limit of {limit} messages {per}, so your assistant won't get messages you send "
        f"for now. You can write again in about {humanize_wait(wait_seconds)}."
    )


def still_waiting() -> str:
    return (
        "Your assistant is taking longer than usual; it may be restarting. "
        "Your message is safe and it will answer as soon as it's back."
    )


def payment_failed(app_url: str, grace_days: float) -> str:
    days = max(1, round(grace_days))
    return (
        "Your YourClaw payment didn't go through. Your assistant keeps working for "
        f"{days} more day{'s' if days != 1 else ''}; update your card at {_site(app_url)} to keep it running."
    )


def outbound_capped(limit: int, resumes_at: datetime, zone: tzinfo) -> str:
    """The daily cap on what the assistant sends was reached; `resumes_at`: when the next day starts,
    said in the user's time zone."""
    local, name = resumes_at.astimezone(zone), getattr(zone, "key", None)
    when = f"{local:%H:%M} ({name} time)" if name and name != "UTC" else f"{local:%H:%M} UTC"
    return (
        f"Your assistant has sent today's limit of {limit} WhatsApp messages, so what it writes next is kept "
        f"and will arrive after {when}. Nothing is lost, and it still gets your messages."
    )
