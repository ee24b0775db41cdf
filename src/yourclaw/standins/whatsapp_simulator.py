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
from yourclaw.kit.errors import Conflict, ServiceUnavailable, Unprocessable
from yourclaw.server.dependencies import AppStateDep, CurrentUser, DbSession, provide_current_user
from yourclaw.standins.whatsapp_user import signed_webhook

MAX_TEXT = 1600  # WhatsApp through Twilio takes no more in one message


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
        self, app_state: AppStateDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[SimulatedMessage]
    ) -> SimulatedOut:
        text = data.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise Unprocessable(f"Write between 1 and {MAX_TEXT} characters", code="INVALID_TEXT")
        phone = await repo.get_phone(db_session, current_user.id)
        if phone is None:
            raise Conflict("Enter your WhatsApp number first", code="NO_PHONE")
        from_phone, verified = phone.phone_e164, phone.verified_at is not None
        # Nothing to hold while our own webhook runs in another request.
        await db_session.commit()
        url, params, headers = signed_webhook(app_state.settings, from_phone, text)
        try:
            answer = await app_state.http.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"The webhook at {url} could not be reached ({type(exc).__name__})", code="WEBHOOK_UNREACHABLE"
            ) from None
        if answer.status_code >= 300:
            raise ServiceUnavailable(
                f"The webhook answered {answer.status_code}: {answer.text[:200]}", code="WEBHOOK_REFUSED"
            )
        return SimulatedOut(message_sid=params["MessageSid"], from_phone=from_phone, verified=verified)
