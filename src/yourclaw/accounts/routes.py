"""The routes of accounts: the signed-in user's phone, the browser's session, and dev sign-in when no
identity provider is configured."""

from __future__ import annotations

from yourclaw.accounts.controller import DevAuthController, PhoneController
from yourclaw.accounts.session_controller import SessionController
from yourclaw.kit.settings import Settings


def handlers(settings: Settings) -> list:
    found: list = [PhoneController, SessionController]
    if settings.dev_sign_in:
        found.append(DevAuthController)
    return found
