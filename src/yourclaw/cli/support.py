"""`yourclaw users show EMAIL`: what support needs to know about one user, in one screen (or `--json`).

It reads across the domains (accounts, billing, credits, llm, runtime, integrations, messaging), as the
dashboard's overview does, and prints only what helps: never a secret, a token, a key or its hint, a message's
text, a verification code, and the WhatsApp number masked (`masked_phone`)."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.cli.common import fail, run_db, settings_or_exit
from yourclaw.credits import repository as credits_repo
from yourclaw.db.models import (
    Assistant,
    HostServer,
    Subscription,
    UsageDaily,
    User,
    UserIntegration,
    UserPhone,
)
from yourclaw.kit.logs import configure_logging, masked_phone

NOT_FOUND_EXIT = 1
MILLICENTS_PER_DOLLAR = 100_000


def add_parser(sub) -> None:
    users = sub.add_parser("users", help="users, for support").add_subparsers(dest="users_command", metavar="ACTION")
    users.required = True
    show = users.add_parser(
        "show",
        help="one user for support: subscription, credits, assistant, last poll, last error, today's counts",
        description="Everything support needs about one user, found by email. Never prints a secret, a token or "
        "a message's text; the WhatsApp number is masked. Exits 1 when no user has that email.",
    )
    show.add_argument("email")
    show.add_argument("--json", action="store_true", help="print it as JSON")
    show.set_defaults(func=cmd_users_show)


def dollars(millicents: int) -> str:
    return f"${millicents / MILLICENTS_PER_DOLLAR:,.2f}"


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


async def user_view(session: AsyncSession, email: str) -> dict | None:
    """The user with that email (the newest account when several had it), or None."""
    users = (
        await session.scalars(
            select(User).where(func.lower(User.email) == email.strip().lower()).order_by(User.created_at.desc())
        )
    ).all()
    if not users:
        return None
    user = users[0]
    phone = await session.scalar(select(UserPhone).where(UserPhone.user_id == user.id))
    subscription = await session.scalar(select(Subscription).where(Subscription.user_id == user.id))
    balance = await credits_repo.balance(session, user.id)
    assistant, host = (
        await session.execute(
            select(Assistant, HostServer.name)
            .outerjoin(HostServer, HostServer.id == Assistant.host_server_id)
            .where(Assistant.user_id == user.id)
        )
    ).first() or (None, None)
    services = (
        await session.execute(
            select(UserIntegration.service, UserIntegration.status)
            .where(UserIntegration.user_id == user.id)
            .order_by(UserIntegration.service)
        )
    ).all()
    today = await session.scalar(select(func.current_date()))
    usage = await session.scalar(select(UsageDaily).where(UsageDaily.user_id == user.id, UsageDaily.day == today))
    return {
        "id": str(user.id),
        "email": user.email,
        "signed_up_at": _when(user.created_at),
        "timezone": user.timezone,
        "other_accounts_with_this_email": len(users) - 1,
        "phone": None
        if phone is None
        else {
            "number": masked_phone(phone.phone_e164),
            "verified": phone.verified_at is not None,
            "opted_out": phone.opted_out_at is not None,
            "last_inbound_at": _when(phone.last_inbound_at),
        },
        "subscription": None
        if subscription is None
        else {
            "status": subscription.status,
            "current_period_end": _when(subscription.current_period_end),
            "cancel_at_period_end": subscription.cancel_at_period_end,
        },
        "credits": {
            "left": dollars(balance.remaining_millicents),
            "used": dollars(balance.used_millicents),
            "total": dollars(balance.total_millicents),
            "left_millicents": balance.remaining_millicents,
            "used_millicents": balance.used_millicents,
            "own_anthropic_key": await credits_repo.has_own_key(session, user.id),
        },
        "assistant": None
        if assistant is None
        else {
            "wanted": assistant.wanted,
            "status": assistant.status,
            "phase": assistant.phase,
            "phase_reason": assistant.phase_reason,
            "image": assistant.image,
            "model": assistant.model,
            "host": host,
            "last_poll_at": _when(assistant.last_poll_at),
            "last_message_at": _when(assistant.last_message_at),
            "last_error": assistant.last_error,
            "restart_count": assistant.restart_count,
            "workspace_bytes": assistant.workspace_bytes,
            "workspace_limit_bytes": assistant.workspace_limit_bytes,
        },
        "google_services": [{"service": service, "status": status} for service, status in services],
        "today": {
            "day": today.isoformat() if isinstance(today, date) else str(today),
            "inbound": usage.inbound_count if usage else 0,
            "outbound": usage.outbound_count if usage else 0,
            "proactive": usage.proactive_count if usage else 0,
            "llm": dollars(usage.llm_millicents if usage else 0),
        },
    }


def _size(n: int | None) -> str:
    return "unknown" if n is None else f"{n / (1024 * 1024):,.1f} MiB"


def lines(view: dict) -> list[str]:
    """The view as a screen: one fact per line, labels aligned."""
    phone, sub, credits, assistant, today = (
        view["phone"],
        view["subscription"],
        view["credits"],
        view["assistant"],
        view["today"],
    )
    rows: list[tuple[str, str]] = [
        ("user", f"{view['email']} ({view['id']}), signed up {view['signed_up_at']}"),
        ("time zone", view["timezone"] or "not set"),
        (
            "whatsapp",
            "no number"
            if phone is None
            else f"{phone['number']}, {'verified' if phone['verified'] else 'NOT verified'}"
            + (", opted out (STOP)" if phone["opted_out"] else ""),
        ),
        (
            "subscription",
            "none"
            if sub is None
            else f"{sub['status']}, period ends {sub['current_period_end'] or 'unknown'}"
            + (", cancels then" if sub["cancel_at_period_end"] else ""),
        ),
        ("credits", f"{credits['left']} left, {credits['used']} used of {credits['total']}"),
        ("own key", "yes (BYOK: pays Anthropic directly)" if credits["own_anthropic_key"] else "no"),
    ]
    if assistant is None:
        rows.append(("assistant", "none"))
    else:
        phase = assistant["phase"] + (f" ({assistant['phase_reason']})" if assistant["phase_reason"] else "")
        rows += [
            ("assistant", f"{assistant['status']}{'' if assistant['wanted'] else ' (not wanted)'}, phase {phase}"),
            ("host", assistant["host"] or "not placed"),
            ("image", assistant["image"] or "default"),
            ("model", assistant["model"]),
            ("last poll", assistant["last_poll_at"] or "never"),
            ("last message", assistant["last_message_at"] or "never"),
            ("last error", assistant["last_error"] or "none"),
            ("restarts", str(assistant["restart_count"])),
            (
                "workspace",
                f"{_size(assistant['workspace_bytes'])} of {_size(assistant['workspace_limit_bytes'])}",
            ),
        ]
    services = ", ".join(f"{s['service']} ({s['status']})" for s in view["google_services"])
    rows += [
        ("google", services or "none connected"),
        (
            "today",
            f"{today['inbound']} in, {today['outbound']} out ({today['proactive']} proactive), "
            f"model spend {today['llm']} ({today['day']})",
        ),
    ]
    if view["other_accounts_with_this_email"]:
        rows.append(("note", f"{view['other_accounts_with_this_email']} older account(s) had this email"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def cmd_users_show(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    view = run_db(settings, lambda session, _: user_view(session, args.email))
    if view is None:
        fail(f"no user with the email {args.email!r}", code=NOT_FOUND_EXIT)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print("\n".join(lines(view)))
