"""What the web product adds to the app: API handlers under /api/v1 (the account overview, the usage view,
the pages' public configuration, the verification QR code) and the pages with their assets."""

from __future__ import annotations

from yourclaw.kit.settings import Settings
from yourclaw.web import pages
from yourclaw.web.activity import ActivityController
from yourclaw.web.config import config
from yourclaw.web.profile import ProfileController
from yourclaw.web.qr import VerificationQrController
from yourclaw.web.usage import UsageController

HANDLERS: list = [ProfileController, config, VerificationQrController, UsageController, ActivityController]


def page_routes(settings: Settings) -> list:
    return pages.web_routes(settings)
