"""`yourclaw say`: be a WhatsApp user of the local product. Sends a message to the running `yourclaw dev`
exactly as Twilio would (signed webhook), then prints what the product sends back."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
from sqlalchemy import or_, select
from twilio.request_validator import RequestValidator

from yourclaw.accounts.phones import normalize_e164
from yourclaw.db.engine import make_engine, make_sessionmaker
from yourclaw.db.models import Outbox, UserPhone
from yourclaw.kit.settings import Settings
from yourclaw.messaging.twilio.webhooks import WHATSAPP_PATH


def signed_webhook(settings: Settings, from_phone: str, text: str) -> tuple[str, dict[str, str], dict[str, str]]:
    url = settings.api_url.rstrip("/") + WHATSAPP_PATH
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": f"whatsapp:{from_phone}",
        "To": settings.twilio_whatsapp_number,
        "Body": text,
        "NumMedia": "0",
        "WaId": from_phone.lstrip("+"),
        "ProfileName": "You",
    }
    signature = RequestValidator(settings.twilio_auth_token or "").compute_signature(url, params)
    return url, params, {"X-Twilio-Signature": signature}


async def say(
    settings: Settings,
    from_phone: str,
    text: str,
    *,
    wait: float = 30.0,
    quiet: float = 3.0,
    replies: int | None = None,
) -> list[str]:
    """Returns the texts sent back to that number after this message: once `replies` of them came when given,
    else once none came for `quiet` seconds after the first; `wait` seconds at most either way."""
    phone = normalize_e164(from_phone)
    engine = make_engine(settings.database_url or "", pool_size=1)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            last_id = await session.scalar(select(Outbox.id).order_by(Outbox.id.desc()).limit(1)) or 0
        url, params, headers = signed_webhook(settings, phone, text)
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(url, data=params, headers=headers)
        answer.raise_for_status()

        # Whoever owns the number by the time the reply goes (a "link" message makes it theirs).
        owners = select(UserPhone.user_id).where(UserPhone.phone_e164 == phone, UserPhone.verified_at.is_not(None))
        recipient = or_(Outbox.to_phone == phone, Outbox.user_id.in_(owners))
        seen: dict[int, str] = {}
        started = last_change = time.monotonic()
        while time.monotonic() - started < wait:
            async with sessions() as session:
                rows = (
                    await session.execute(
                        select(Outbox.id, Outbox.body, Outbox.status)
                        .where(Outbox.id > last_id, recipient, Outbox.status == "SENT")
                        .order_by(Outbox.id)
                    )
                ).all()
            for row_id, body, _ in rows:
                if row_id not in seen:
                    seen[row_id] = body
                    last_change = time.monotonic()
            if replies is not None and len(seen) >= replies:
                break
            if replies is None and seen and time.monotonic() - last_change > quiet:
                break
            await asyncio.sleep(0.2)
        return list(seen.values())
    finally:
        await engine.dispose()
