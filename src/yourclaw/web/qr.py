"""The verification link as a QR code (SVG, drawn here: the pages load nothing from elsewhere), so a person on
a computer can open WhatsApp on their phone with "link <code>" already typed."""

from __future__ import annotations

import io

import segno
from litestar import Controller, Response, get
from litestar.di import Provide

from yourclaw.accounts import repository as repo
from yourclaw.accounts import service
from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.accounts.errors import NoPendingVerification
from yourclaw.kit.di import DbSession, SettingsDep


def qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    # Dark modules on white whatever the page theme: phone cameras read that best.
    segno.make(text, error="m").save(out, kind="svg", scale=6, border=2, dark="#09090b", light="#ffffff")
    return out.getvalue()


class VerificationQrController(Controller):
    path = "/users/me/phone/qr"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/", include_in_schema=True)
    async def qr(self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser) -> Response[bytes]:
        phone = await repo.get_phone(db_session, current_user.id)
        pending = service.phone_out(phone, settings).verification if phone else None
        if pending is None:
            raise NoPendingVerification("No verification is pending; enter your number first")
        return Response(
            qr_svg(pending.link),
            media_type="image/svg+xml",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'"},
        )
