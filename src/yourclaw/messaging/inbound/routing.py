"""The router's decisions, as pure functions: what a stored WhatsApp message becomes (verification,
a refusal with a reply, or the assistant's queue) given what the database said about its sender."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from yourclaw.credits import notices as credit_notices
from yourclaw.messaging import notices

# "link 123456" as the wa.me link pre-fills it; people retype it with other spacing and capitals.
# Digits only: "link https://..." from a linked number is for the assistant.
_LINK = re.compile(r"^\s*link\s+([0-9]{4,12})\s*$", re.IGNORECASE)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)

NO_CREDITS = "NO_CREDITS"  # the refusal counted by yourclaw_credit_refusals{where="router"}


def link_code(body: str) -> str | None:
    match = _LINK.match(body or "")
    return match.group(1) if match else None


def opt_command(body: str) -> str | None:
    """STOP or START, only as the whole message: "stop that" is for the assistant."""
    word = (body or "").strip().upper()
    return word if word in ("STOP", "START") else None


def day_of(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


@dataclass(frozen=True)
class Reply:
    text: str
    # The outbox sends one message per key (per user, or per number without an account).
    dedupe_key: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str | None = None
    reply: Reply | None = None
    # True sets user_phones.opted_out_at, False clears it, None leaves it.
    opt_out: bool | None = None


# --- rate limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_day: int


@dataclass(frozen=True)
class RateLimit:
    window: str
    limit: int
    retry_at: datetime


def _window_limit(times: list[datetime], at: datetime, window: timedelta, limit: int) -> datetime | None:
    inside = [t for t in times if at - window < t <= at]
    if len(inside) < limit:
        return None
    # Once the limit-th newest leaves the window, one more fits.
    return inside[-limit] + window


def rate_limit(queued_at: Sequence[datetime], at: datetime, limits: Limits) -> RateLimit | None:
    """Sliding windows over the messages that reached the queue (refused ones do not count, or a
    burst would keep someone locked out). When both are full, the later retry time is the true one."""
    times = sorted(queued_at)
    found = []
    for name, window, limit in (("minute", MINUTE, limits.per_minute), ("day", DAY, limits.per_day)):
        retry_at = _window_limit(times, at, window, limit)
        if retry_at is not None:
            found.append(RateLimit(name, limit, retry_at))
    return max(found, key=lambda r: r.retry_at) if found else None


# --- senders with a verified number ----------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """What the router read about a verified sender before deciding."""

    user_id: uuid.UUID
    assistant_status: str | None  # None: no assistant (or a deleted one)
    queued_at: Sequence[datetime]  # received_at of their messages that reached the queue in the last day
    can_spend: bool


_ASSISTANT_REFUSALS = {
    None: "NO_ASSISTANT",
    "NONE": "NO_ASSISTANT",
    "PROVISIONING": "ASSISTANT_PROVISIONING",
    "ERROR": "ASSISTANT_ERROR",
}


# A tap on the template's "Show me" button: the webhook's window opening has released what was held, and the
# tap is no question for the assistant.
SHOW_HELD = "SHOW_HELD"
# Messages not queued that the conversation view still shows: refused ones written before the assistant could
# take them (the refusal's reply follows them), and the tap that released a held message. STOP/START and
# "link <code>" are commands; a rate-limited burst is noise.
IN_CONVERSATION_NOT_QUEUED = frozenset({"NO_ASSISTANT", "ASSISTANT_PROVISIONING", "ASSISTANT_ERROR", SHOW_HELD})


def _assistant_reply(detail: str, app_url: str) -> str:
    if detail == "NO_ASSISTANT":
        return notices.no_assistant(app_url)
    if detail == "ASSISTANT_PROVISIONING":
        return notices.provisioning()
    return notices.assistant_error(app_url)


def decide(
    body: str, at: datetime, sender: Sender, limits: Limits, app_url: str, *, show_held: bool = False
) -> Outcome:
    if show_held:
        return Outcome("DONE", SHOW_HELD)
    command = opt_command(body)
    if command == "STOP":
        return Outcome("REFUSED", "OPT_OUT", Reply(notices.stopped()), opt_out=True)
    if command == "START":
        return Outcome("DONE", "OPT_IN", Reply(notices.started()), opt_out=False)

    # READY in any phase (restarting, disconnected) queues: the message waits for the assistant.
    detail = _ASSISTANT_REFUSALS.get(sender.assistant_status)
    if detail is not None:
        # Once an hour per state: a burst of messages during set-up gets one answer.
        key = f"assistant:{detail}:{at.astimezone(UTC):%Y-%m-%dT%H}"
        return Outcome("REFUSED", detail, Reply(_assistant_reply(detail, app_url), key))

    limited = rate_limit(sender.queued_at, at, limits)
    if limited is not None:
        wait = (limited.retry_at - at).total_seconds()
        # Messages refused in one window share its retry time, so the window gets one reply.
        key = f"rate-limit:{limited.window}:{limited.retry_at.astimezone(UTC).isoformat()}"
        return Outcome("REFUSED", "RATE_LIMITED", Reply(notices.rate_limited(limited.window, limited.limit, wait), key))

    if not sender.can_spend:
        # The LLM proxy tells the user with the same key: one "out of credits" a day, from either.
        key = credit_notices.no_credits_key(sender.user_id, at)
        return Outcome("REFUSED", NO_CREDITS, Reply(credit_notices.no_credits(app_url), key))

    return Outcome("QUEUED")


def unknown_number_key(at: datetime) -> str:
    """Every answer to a number with no account shares this key (per number, see the outbox), so it gets
    one a day whatever it sends: hello, wrong, expired or taken codes. A stranger cannot make us pay
    for a message per message."""
    return f"no-account:{day_of(at)}"


def _to_unknown_number(text: str, at: datetime) -> Reply:
    return Reply(f"{text} {notices.once_a_day()}", unknown_number_key(at))


def unknown_sender(at: datetime, app_url: str) -> Outcome:
    return Outcome("REFUSED", "UNKNOWN_SENDER", _to_unknown_number(notices.sign_up(app_url), at))


# --- "link <code>" ---------------------------------------------------------------------------------


class LinkResult(enum.StrEnum):
    VERIFIED = "VERIFIED"
    ALREADY_LINKED = "ALREADY_LINKED"
    WRONG_CODE = "WRONG_CODE"
    EXPIRED_CODE = "EXPIRED_CODE"
    PHONE_TAKEN = "PHONE_TAKEN"


def link_result(*, code_owner: uuid.UUID | None, code_expired: bool, number_owner: uuid.UUID | None) -> LinkResult:
    """`code_owner`: the user whose pending row for this number has this code; `number_owner`: the user
    who already verified the number (the partial unique index allows one)."""
    if code_owner is None:
        return LinkResult.ALREADY_LINKED if number_owner is not None else LinkResult.WRONG_CODE
    if number_owner is not None and number_owner != code_owner:
        return LinkResult.PHONE_TAKEN
    if code_expired:
        return LinkResult.EXPIRED_CODE
    return LinkResult.VERIFIED


def link_outcome(result: LinkResult, code: str, at: datetime, app_url: str, *, has_account: bool) -> Outcome:
    """`has_account`: the answer goes to a user (a verified number), not to a bare number."""
    if result is LinkResult.VERIFIED:
        return Outcome("VERIFICATION", result.value, Reply(notices.linked()))
    texts = {
        LinkResult.ALREADY_LINKED: notices.already_linked(),
        LinkResult.WRONG_CODE: notices.wrong_code(app_url),
        LinkResult.EXPIRED_CODE: notices.expired_code(app_url),
        LinkResult.PHONE_TAKEN: notices.phone_taken(),
    }
    if not has_account:
        return Outcome("VERIFICATION", result.value, _to_unknown_number(texts[result], at))
    # One explanation per code a day: retyping the same wrong code does not start a conversation.
    key = f"link:{result.value}:{code}:{day_of(at)}"
    return Outcome("VERIFICATION", result.value, Reply(texts[result], key))


STILL_WAITING_PREFIX = "still-waiting:"


def still_waiting_key(message_id: uuid.UUID) -> str:
    """One notice per wait: the wait is over when this message is handed out."""
    return f"{STILL_WAITING_PREFIX}{message_id}"
