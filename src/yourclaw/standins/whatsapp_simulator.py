"""The WhatsApp simulator of local development (MOCK_TWILIO): the signed-in user types as if on WhatsApp and
the message reaches us exactly as Twilio would deliver it, a signed webhook over HTTP to API_URL, from their
number (verified, or pending: then "link <code>" verifies it). Replies go out through the sender to the local
Twilio stand-in and show in the user's conversation (`GET /api/v1/messages`)."""

from __future__ import annotations

import httpx
import msgspec
from litestar import Controller, post
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.accounts import repository as repo
from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.kit.di import DbSession, HttpClient, SettingsDep
from yourclaw.kit.errors import Conflict, ServiceUnavailable, Unprocessable
from yourclaw.standins.whatsapp_user import signed_webhook

MAX_TEXT = 1600  # WhatsApp through Twilio takes no more in one message


class InvalidText(Unprocessable):
    code = "INVALID_TEXT"


class NoPhone(Conflict):
    code = "NO_PHONE"


class WebhookUnreachable(ServiceUnavailable):
    code = "WEBHOOK_UNREACHABLE"


class WebhookRefused(ServiceUnavailable):
    code = "WEBHOOK_REFUSED"


class SimulatedMessage(msgspec.Struct):
    text: str


class SimulatedOut(msgspec.Struct):
    message_sid: str
    from_phone: str
    verified: bool


class SimulatorController(Controller):
    path = "/dev/simulator"
    tags = ["dev"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @post("/messages", status_code=202)
    async def send(
        self,
        settings: SettingsDep,
        http: HttpClient,
        db_session: DbSession,
        current_user: CurrentUser,
        data: JSONBody[SimulatedMessage],
    ) -> SimulatedOut:
        text = data.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise InvalidText(f"Write between 1 and {MAX_TEXT} characters")
        phone = await repo.get_phone(db_session, current_user.id)
        if phone is None:
            raise NoPhone("Enter your WhatsApp number first")
        from_phone, verified = phone.phone_e164, phone.verified_at is not None
        # Nothing to hold while our own webhook runs in another request.
        await db_session.commit()
        url, params, headers = signed_webhook(settings, from_phone, text)
        try:
            answer = await http.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(f"The webhook at {url} could not be reached ({type(exc).__name__})") from None
        if answer.status_code >= 300:
            raise WebhookRefused(f"The webhook answered {answer.status_code}: {answer.text[:200]}")
        return SimulatedOut(message_sid=params["MessageSid"], from_phone=from_phone, verified=verified)
