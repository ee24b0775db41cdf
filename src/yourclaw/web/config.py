"""What the pages may know about this deployment: only public values (never a secret)."""

from __future__ import annotations

import msgspec
from litestar import get

from yourclaw.kit.di import SettingsDep
from yourclaw.kit.settings import Settings


class PublicConfig(msgspec.Struct):
    # "supabase": Continue with Google through Supabase Auth; "dev": local sign-in by email.
    sign_in: str
    supabase_url: str | None
    supabase_anon_key: str | None
    # The local WhatsApp simulator is on (MOCK_TWILIO in development).
    simulator: bool
    whatsapp_number: str
    app_url: str


def public_config(settings: Settings) -> PublicConfig:
    supabase = not settings.dev_sign_in
    return PublicConfig(
        sign_in="supabase" if supabase else "dev",
        supabase_url=settings.supabase_url.rstrip("/") if supabase and settings.supabase_url else None,
        supabase_anon_key=settings.supabase_anon_key if supabase else None,
        simulator=settings.whatsapp_simulator,
        whatsapp_number=settings.twilio_whatsapp_number.removeprefix("whatsapp:"),
        app_url=settings.app_url.rstrip("/"),
    )


@get("/config", tags=["web"])
async def config(settings: SettingsDep) -> PublicConfig:
    return public_config(settings)
